"""How the agent runs a command: split its words, start it (posix_spawn, the spawn thread, or sh -c), read and cap its output."""
