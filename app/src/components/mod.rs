pub mod form;
pub mod shell;
pub mod status;
