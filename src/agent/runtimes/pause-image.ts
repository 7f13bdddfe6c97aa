// The pod sandbox's image, made here rather than pulled (nodes may have no registry to pull
// from): a root filesystem holding one tiny static ELF, /pause, that sleeps until a signal comes
// and exits 0 on SIGTERM or SIGINT, like Kubernetes' pause. x86_64 and aarch64.
import { tarArchive } from './docker-tar.js';

/** Bump when the program or the image's layout changes. */
export const PAUSE_IMAGE_VERSION = '1';
export const PAUSE_IMAGE_REPO = 'skiff/pause';
export const PAUSE_IMAGE = `${PAUSE_IMAGE_REPO}:${PAUSE_IMAGE_VERSION}`;

// x86_64 (assembled with llvm-mc; x86_64 signal delivery needs SA_RESTORER, the handler never returns):
//   lea rax,[rip+handler]; push 0 (mask); push rax (restorer); push SA_RESTORER (flags); push rax (handler)
//   rt_sigaction(SIGTERM, rsp, 0, 8); rt_sigaction(SIGINT, rsp, 0, 8)
//   loop: pause(); jmp loop
//   handler: exit_group(0)
const X86_64_CODE =
  '488d05400000006a0050680000000450b80d000000bf0f0000004889e631d241ba080000000f05' +
  'b80d000000bf020000004889e631d241ba080000000f05b8220000000f05ebf7b8e700000031ff0f05';

// aarch64 (no pause syscall there: ppoll(NULL, 0, NULL, NULL, 0) blocks until a signal):
//   adr x1, handler; sub sp,sp,#32; str x1,[sp]; str xzr,[sp,#8/#16/#24]
//   rt_sigaction(15, sp, 0, 8); rt_sigaction(2, sp, 0, 8)
//   loop: ppoll(0,0,0,0,0); b loop
//   handler: exit_group(0)
const AARCH64_CODE =
  '41030010ff8300d1e10300f9ff0700f9ff0b00f9ff0f00f9e00180d2e1030091020080d2030180d2c81080d2010000d4' +
  '400080d2e1030091020080d2030180d2c81080d2010000d4000080d2010080d2020080d2030080d2040080d2280980d2' +
  '010000d4f9ffff17000080d2c80b80d2010000d4';

const EM_X86_64 = 62;
const EM_AARCH64 = 183;

function hex(s: string): Uint8Array {
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Docker's architecture names (version().Arch) and Node's (process.arch). */
export function pauseArch(arch: string): 'amd64' | 'arm64' {
  if (arch === 'amd64' || arch === 'x64' || arch === 'x86_64') return 'amd64';
  if (arch === 'arm64' || arch === 'aarch64') return 'arm64';
  throw new Error(`no pause program for architecture ${arch}`);
}

/** A static ELF64 executable: one PT_LOAD segment mapping the whole file, code right after the headers. */
export function pauseElf(arch: string): Uint8Array {
  const a = pauseArch(arch);
  const code = hex(a === 'amd64' ? X86_64_CODE : AARCH64_CODE);
  const machine = a === 'amd64' ? EM_X86_64 : EM_AARCH64;
  const base = 0x400000n;
  const headers = 64 + 56;
  const size = headers + code.length;
  const elf = new Uint8Array(size);
  const v = new DataView(elf.buffer);
  elf.set([0x7f, 0x45, 0x4c, 0x46, 2 /* 64-bit */, 1 /* little endian */, 1 /* version */, 0 /* SysV */], 0);
  v.setUint16(16, 2, true); // ET_EXEC
  v.setUint16(18, machine, true);
  v.setUint32(20, 1, true);
  v.setBigUint64(24, base + BigInt(headers), true); // e_entry
  v.setBigUint64(32, 64n, true); // e_phoff
  v.setBigUint64(40, 0n, true); // e_shoff
  v.setUint32(48, 0, true); // e_flags
  v.setUint16(52, 64, true); // e_ehsize
  v.setUint16(54, 56, true); // e_phentsize
  v.setUint16(56, 1, true); // e_phnum
  v.setUint16(58, 64, true); // e_shentsize
  v.setUint16(60, 0, true); // e_shnum
  v.setUint16(62, 0, true); // e_shstrndx
  // Program header: PT_LOAD, R+X, the whole file at base.
  v.setUint32(64, 1, true);
  v.setUint32(68, 5, true);
  v.setBigUint64(72, 0n, true); // p_offset
  v.setBigUint64(80, base, true); // p_vaddr
  v.setBigUint64(88, base, true); // p_paddr
  v.setBigUint64(96, BigInt(size), true); // p_filesz
  v.setBigUint64(104, BigInt(size), true); // p_memsz
  v.setBigUint64(112, 0x10000n, true); // p_align (64 KiB: fine for 4K and 64K page kernels)
  elf.set(code, headers);
  return elf;
}

/** The root filesystem to import: /pause and little else. */
export function pauseImageTar(arch: string): Uint8Array {
  return tarArchive([
    { type: 'file', path: 'pause', content: pauseElf(arch), mode: 0o755 },
    { type: 'dir', path: 'dev' },
    { type: 'dir', path: 'proc' },
    { type: 'dir', path: 'sys' },
    { type: 'dir', path: 'etc' },
  ]);
}

/** Image config applied at import (the Engine API's `changes`). */
export const PAUSE_IMAGE_CHANGES = ['ENTRYPOINT ["/pause"]', `LABEL io.skiff.pause-version=${PAUSE_IMAGE_VERSION}`];
