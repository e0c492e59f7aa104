// SPDX-License-Identifier: GPL-2.0
/*
 * A vCPU runstate area (Xen's layout) that straddles two guest pages: the
 * module keeps it up to date, both pages together, at every transition of
 * the vCPU between running, runnable and blocked.  The VMM attaches it from
 * the vCPU's own thread, runs the guest, and reads the area back from
 * guest RAM and with KVM_MEMEXT_RUNSTATE_GET.
 *
 * Build: make samples (cc -I<kvm_memext>/include/uapi runstate_vmm.c)
 */
#include "vmm.h"

#define RAM_SIZE	0x10000
#define CODE		0x1000
#define AREA		0x2ff0	/* 48 bytes across the page at 0x3000 */

/* A few thousand exits to the VMM, each a transition of the runstate. */
static const uint8_t guest[] = {
	0xb9, 0x00, 0x10,	/* mov cx, 4096 */
	0xba, VMM_PORT, 0x00,	/* mov dx, VMM_PORT */
	0x89, 0xc8,		/* 1: mov ax, cx */
	0xef,			/* out dx, ax */
	0xe2, 0xfb,		/* loop 1b */
	0xf4,			/* hlt */
};

int main(void)
{
	struct kvm_memext_runstate attach = {
		.gpa = AREA,
		.size = sizeof(struct kvm_memext_runstate_area),
	};
	struct kvm_memext_runstate detach = { 0 };
	struct kvm_memext_runstate_info info = { 0 };
	struct kvm_memext_runstate_area area;
	struct vmm v;
	uint8_t *ram;
	int exits = 0;

	vmm_create(&v, KVM_MEMEXT_CAP_RUNSTATE);
	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED)
		vmm_die("mmap");
	memcpy(ram + CODE, guest, sizeof(guest));
	vmm_set_slot(&v, 0, 0, RAM_SIZE, ram);
	vmm_start_at(&v, CODE);

	/* From the thread that runs the vCPU. */
	attach.vcpu_fd = v.vcpu;
	if (ioctl(v.handle, KVM_MEMEXT_RUNSTATE_ATTACH, &attach))
		vmm_die("KVM_MEMEXT_RUNSTATE_ATTACH");
	while (vmm_run(&v) != -1)
		exits++;

	memcpy(&area, ram + AREA, sizeof(area));
	info.vcpu_fd = v.vcpu;
	if (ioctl(v.handle, KVM_MEMEXT_RUNSTATE_GET, &info))
		vmm_die("KVM_MEMEXT_RUNSTATE_GET");
	printf("%d exits; area at %#x: state %u, running %llu ns, runnable %llu ns\n",
	       exits, AREA, area.state, (unsigned long long)area.time[0],
	       (unsigned long long)area.time[1]);
	printf("module's view: state %u, running %llu ns\n", info.state,
	       (unsigned long long)info.time[0]);
	/* Only vcpu_fd: the area is written a last time, OFFLINE. */
	detach.vcpu_fd = v.vcpu;
	if (ioctl(v.handle, KVM_MEMEXT_RUNSTATE_DETACH, &detach))
		vmm_die("KVM_MEMEXT_RUNSTATE_DETACH");
	memcpy(&area, ram + AREA, sizeof(area));
	printf("detached: state %u (offline is %u)\n", area.state,
	       KVM_MEMEXT_RUNSTATE_OFFLINE);
	return exits == 4096 && info.time[0] > 0 &&
	       area.state == KVM_MEMEXT_RUNSTATE_OFFLINE &&
	       !(area.state_entry_time & KVM_MEMEXT_RUNSTATE_UPDATE) ? 0 : 1;
}
