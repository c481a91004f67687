mod embedding;
