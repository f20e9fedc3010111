# role "idle": nothing but the console commands.  Sourced by /init.
cot_ready
cot_cmd_loop
