pub mod home;
pub mod identity;
pub mod login;
pub mod not_found;
pub mod settings;
pub mod users;
