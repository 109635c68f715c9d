//! One module per intake protocol; they all end in [`crate::queue::EventQueue::push`].

mod body;
pub mod native;

pub use body::read_body;
