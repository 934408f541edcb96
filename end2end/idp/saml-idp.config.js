// The person saml-idp signs in by default; each test types its own person into the form.
module.exports = {
  user: {
    userName: "first.person@example.test",
    nameIdFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    firstName: "First",
    lastName: "Person",
    email: "first.person@example.test",
  },
  metadata: [
    { id: "firstName", optional: false, displayName: "First Name", description: "user.firstName", multiValue: false },
    { id: "lastName", optional: false, displayName: "Last Name", description: "user.lastName", multiValue: false },
    { id: "email", optional: false, displayName: "E-Mail", description: "user.email", multiValue: false },
  ],
};
