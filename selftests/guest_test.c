// SPDX-License-Identifier: GPL-2.0
/*
 * A real guest, created with KVM's selftest library, runs to GUEST_DONE
 * with kvm_memext loaded and its VM bound to a handle, and the host sees
 * the values the guest wrote.
 */
#include "memext_util.h"
#include "ucall_common.h"

#define NR_ITERATIONS	64

static uint64_t guest_counter;

static void guest_code(void)
{
	uint64_t i;

	for (i = 1; i <= NR_ITERATIONS; i++) {
		WRITE_ONCE(guest_counter, i * 3);
		GUEST_SYNC(i);
	}
	GUEST_DONE();
}

static void run_guest(struct kvm_vm *vm, struct kvm_vcpu *vcpu)
{
	uint64_t i = 0;
	struct ucall uc;

	for (;;) {
		vcpu_run(vcpu);
		switch (get_ucall(vcpu, &uc)) {
		case UCALL_SYNC:
			i++;
			TEST_ASSERT(uc.args[1] == i, "sync %lu, expected %lu",
				    (unsigned long)uc.args[1], (unsigned long)i);
			sync_global_from_guest(vm, guest_counter);
			TEST_ASSERT(guest_counter == i * 3,
				    "guest wrote %lu, expected %lu",
				    (unsigned long)guest_counter,
				    (unsigned long)(i * 3));
			break;
		case UCALL_DONE:
			TEST_ASSERT(i == NR_ITERATIONS, "done after %lu syncs",
				    (unsigned long)i);
			return;
		case UCALL_ABORT:
			REPORT_GUEST_ASSERT(uc);
			break;
		default:
			TEST_FAIL("unexpected exit %s",
				  exit_reason_str(vcpu->run->exit_reason));
		}
	}
}

static void test_guest_runs_bound(void)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	int dev, h;

	dev = memext_open();
	vm = vm_create_with_one_vcpu(&vcpu, guest_code);
	h = memext_bind(dev, vm->fd);
	run_guest(vm, vcpu);
	close(h);
	kvm_vm_free(vm);
	close(dev);
}

/* The guest keeps running after its handle is gone. */
static void test_guest_runs_after_unbind(void)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	int dev;

	dev = memext_open();
	vm = vm_create_with_one_vcpu(&vcpu, guest_code);
	close(memext_bind(dev, vm->fd));
	run_guest(vm, vcpu);
	kvm_vm_free(vm);
	close(dev);
}

int main(void)
{
	static const struct memext_test tests[] = {
		MEMEXT_TEST(test_guest_runs_bound),
		MEMEXT_TEST(test_guest_runs_after_unbind),
	};

	return memext_run_tests(tests, ARRAY_SIZE(tests));
}
