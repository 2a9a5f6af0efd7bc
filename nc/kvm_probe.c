/*
 * kvm_probe.c - can this host's KVM run a stock x86-64 kernel?
 *
 * Opening /dev/kvm and reading CPUID is not enough: the development
 * machines run a nested PVM hypervisor (kvm_pvm) that advertises KVM and
 * cmpxchg16b, creates VMs and runs real-mode code, yet stops a 64-bit
 * guest at its first cmpxchg16b with an internal error -- and every
 * distribution kernel executes one early.  So the probe runs exactly that:
 * a one-page long-mode guest doing cmpxchg16b then hlt, and requires the
 * hlt exit.  Costs a few milliseconds, once, at start.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/error.h"
#include "nc.h"

#define GUEST_MEM 0x200000	/* one 2 MiB page, identity-mapped */

/* mov rsi,0x800; xor eax,eax; xor edx,edx; xor ebx,ebx; xor ecx,ecx;
 * cmpxchg16b [rsi]; hlt */
static const unsigned char code[] = {
	0x48, 0xc7, 0xc6, 0x00, 0x08, 0x00, 0x00, 0x31, 0xc0, 0x31, 0xd2, 0x31, 0xdb,
	0x31, 0xc9, 0x48, 0x0f, 0xc7, 0x0e, 0xf4,
};

static void
long_mode(struct kvm_sregs *s)
{
	struct kvm_segment seg = { .base = 0, .limit = 0xffffffff, .selector = 8,
		.present = 1, .type = 11, .s = 1, .l = 1, .g = 1 };

	s->cs = seg;
	seg.type = 3;
	seg.selector = 16;
	seg.l = 0;
	seg.db = 1;
	s->ds = s->es = s->fs = s->gs = s->ss = seg;
	s->cr3 = 0x1000;
	s->cr4 = 1u << 5;				/* PAE */
	s->cr0 = 1u | 1u << 4 | 1u << 31;		/* PE, ET, PG */
	s->efer = 1u << 8 | 1u << 10;			/* LME, LMA */
}

int
nc_kvm_probe_run(void)
{
	int kvm = -1, vm = -1, vcpu = -1, rc = -1, run_size;
	unsigned char *mem = MAP_FAILED;
	struct kvm_run *run = MAP_FAILED;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	uint64_t *pt;

	if ((kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC)) < 0 ||
	    (vm = ioctl(kvm, KVM_CREATE_VM, 0)) < 0) {
		kr_error_errno("Unsupported", "KVM: cannot create a VM");
		goto cleanup;
	}
	mem = mmap(NULL, GUEST_MEM, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		goto fail;
	pt = (uint64_t *)(void *)(mem + 0x1000);
	pt[0] = 0x2000 | 3;			/* PML4 -> PDPT */
	pt[512] = 0x3000 | 3;			/* PDPT -> PD */
	pt[1024] = 0x80 | 3;			/* PD: one 2 MiB page at 0 */
	memcpy(mem + 0x4000, code, sizeof(code));
	{
		struct kvm_userspace_memory_region r = { .slot = 0, .guest_phys_addr = 0,
			.memory_size = GUEST_MEM, .userspace_addr = (uintptr_t)mem };

		if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r) < 0)
			goto fail;
	}
	if ((vcpu = ioctl(vm, KVM_CREATE_VCPU, 0)) < 0 ||
	    (run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0)) <= 0)
		goto fail;
	run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED || ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		goto fail;
	long_mode(&sregs);
	memset(&regs, 0, sizeof(regs));
	regs.rip = 0x4000;
	regs.rflags = 2;
	regs.rsp = 0x100000;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0 || ioctl(vcpu, KVM_SET_REGS, &regs) < 0 ||
	    ioctl(vcpu, KVM_RUN, 0) < 0)
		goto fail;
	if (run->exit_reason != KVM_EXIT_HLT) {
		ioctl(vcpu, KVM_GET_REGS, &regs);
		kr_error("Unsupported", "KVM stopped a 64-bit guest at cmpxchg16b (exit %u at "
		    "rip 0x%llx): it cannot run stock kernels", run->exit_reason,
		    (unsigned long long)regs.rip);
		goto cleanup;
	}
	rc = 0;
	goto cleanup;
fail:
	kr_error_errno("Unsupported", "KVM: cannot run a probe guest");
cleanup:
	if (run != MAP_FAILED)
		munmap(run, (size_t)run_size);
	if (mem != MAP_FAILED)
		munmap(mem, GUEST_MEM);
	if (vcpu >= 0)
		close(vcpu);
	if (vm >= 0)
		close(vm);
	if (kvm >= 0)
		close(kvm);
	return rc;
}
