mod capture;
mod common;
mod nonutf8;
mod policy_file;
mod restore;
mod symlinks;
