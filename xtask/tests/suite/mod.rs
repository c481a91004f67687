mod tasks_part2;
