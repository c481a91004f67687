mod atomic;
mod reference_files;
mod registry;
