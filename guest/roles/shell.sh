# role "shell": an interactive busybox shell on the console (debugging).
cot_ready
setsid cttyhack sh
