//! `addons`: provisions backing resources for apps, drives each through the lifecycle
//! state machine, and hands it to the app as config vars.

pub mod addon;
pub mod apply;
pub mod attachment;
pub mod backup;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod complete;
pub mod config;
pub mod credential;
pub mod dotenv;
pub mod engine;
pub mod envfile;
pub mod error;
pub mod expiry;
pub mod failpoint;
pub mod help;
pub mod hook;
pub mod labels;
pub mod machine;
pub mod masking;
pub mod names;
pub mod output;
pub mod providers;
pub mod resource;
pub mod selector;
pub mod spec;
pub mod store;
pub mod usage;
