// SPDX-License-Identifier: GPL-2.0
/*
 * Test-guest helper: hold one KVM VM open for the whole run, so that KVM
 * keeps virtualization enabled instead of enabling and disabling it on
 * every CPU each time the VM count goes 0 -> 1 -> 0.  6.12 and later do
 * this by default (kvm.enable_virt_at_load); on 6.1 under QEMU TCG those
 * IPI storms intermittently lock up a CPU ("rcu_preempt kthread timer
 * wakeup didn't happen"), with or without kvm_memext loaded.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/kvm.h>

int main(void)
{
	int kvm = open("/dev/kvm", O_RDWR);

	if (kvm < 0 || ioctl(kvm, KVM_CREATE_VM, 0) < 0) {
		perror("vm-keeper");
		return 1;
	}
	/* Tell the init the VM exists. */
	close(open("/tmp/vm-keeper.ready", O_CREAT | O_WRONLY, 0600));
	for (;;)
		pause();
}
