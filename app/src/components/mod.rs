pub mod shell;
pub mod status;
