mod tasks_part1;
