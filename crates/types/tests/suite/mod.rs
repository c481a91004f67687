mod reference_files;
