// The demo's SAML identity provider (npm saml-idp) playing Okta: the person its sign-in page
// offers first. Type any other name and email there to sign in as someone else.
module.exports = {
  user: {
    userName: "grace.hopper@example.test",
    nameIdFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    firstName: "Grace",
    lastName: "Hopper",
    email: "grace.hopper@example.test",
  },
  metadata: [
    { id: "firstName", optional: false, displayName: "First Name", description: "user.firstName", multiValue: false },
    { id: "lastName", optional: false, displayName: "Last Name", description: "user.lastName", multiValue: false },
    { id: "email", optional: false, displayName: "E-Mail", description: "user.email", multiValue: false },
  ],
};
