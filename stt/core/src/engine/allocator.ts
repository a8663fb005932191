/**
 * glibc malloc settings for the stack's processes, given through their environment (glibc reads
 * them at start, so whoever starts a process sets them: `npm start`, the images).
 *
 * By default glibc raises its mmap threshold to the size of each large block freed (up to 32 MiB),
 * so after the first decode every audio copy and whisper.cpp buffer is carved from the arenas,
 * whose high-water mark then only grows with fragmentation: a 12-minute soak grew `stt_cpu_ws`
 * 2.0 % after minute 5, with 151 MiB held by arenas, a third of it free. A fixed threshold keeps
 * blocks of 128 KiB and more in mappings of their own, handed back when freed: 0.5 %, 80 MiB in
 * arenas, RSS about 20 MiB lower, decode times unchanged (docs/measurements.md, "Soak").
 */
export const ALLOCATOR_ENV: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: '131072' };
