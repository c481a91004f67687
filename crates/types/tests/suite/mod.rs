mod atomic;
mod reference_files;
