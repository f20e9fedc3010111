// SPDX-License-Identifier: MIT
/* libFuzzer: the VMCOREINFO text parser (hostile guest text). */
#include <string.h>

#include "cotrack/vmi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cot_vmcoreinfo ci;
	size_t i;

	if (cot_vmcoreinfo_parse(&ci, (const char *)data, size) == 0) {
		/* the release is NUL-terminated and printable */
		for (i = 0; ci.osrelease[i]; i++)
			if (i >= COT_VMCI_RELEASE_LEN - 1 ||
			    ci.osrelease[i] < 0x21 || ci.osrelease[i] > 0x7e)
				__builtin_trap();
		if (!(ci.have & COT_VMCI_OSRELEASE))
			__builtin_trap();
	}
	return 0;
}
