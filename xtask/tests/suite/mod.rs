mod tasks_part1;
mod tasks_part2;
