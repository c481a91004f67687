//! Generated artifacts: the registry (load, sync from files, save), the listings shown to a
//! fresh session, and the prompts that ask the agent to attempt, reflect, build and repair.
//!
//! This crate never spawns processes.

pub mod prompts;
pub mod registry;
