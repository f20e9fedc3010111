/* SPDX-License-Identifier: MIT */
/*
 * Subcommands of the cotrack CLI, one file each in cmd/cotrack/.  Each
 * takes argv from the subcommand's name on and returns the exit status.
 * Declared weak so a subcommand not yet built reports itself missing
 * instead of breaking the link.
 */
#ifndef COTRACK_CMDS_H
#define COTRACK_CMDS_H

#define COT_CMD(name)                                                          \
	int cmd_##name(int argc, char **argv) __attribute__((weak))

COT_CMD(replay);
COT_CMD(vmi);
COT_CMD(query);
COT_CMD(graph);
COT_CMD(pki);
COT_CMD(verify);

#endif
