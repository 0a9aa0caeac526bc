// DirectAlloc - the JVM case of `make bench`: threads allocate, grow and free native memory through
// Unsafe (each call is one malloc/realloc/free in HotSpot's os::malloc), keeping a sliding window of live
// blocks, and print allocator calls per second as one "BENCH java key=value ..." line.
// Usage: java -cp build/bench DirectAlloc [threads] [calls per thread] [window]

import java.io.IOException;
import java.lang.reflect.Field;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.time.Duration;
import java.time.Instant;
import sun.misc.Unsafe;

public final class DirectAlloc {
    private static final Unsafe U = unsafe();

    private static Unsafe unsafe() {
        try {
            Field f = Unsafe.class.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            return (Unsafe) f.get(null);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("no sun.misc.Unsafe", e);
        }
    }

    /** One thread's churn; returns the allocator calls it made. */
    private static long churn(long seed, long calls, int window) {
        long[] addr = new long[window];
        long[] size = new long[window];
        long rng = seed;
        long made = 0;
        int pos = 0;
        while (made < calls) {
            rng ^= rng << 13;
            rng ^= rng >>> 7;
            rng ^= rng << 17;
            int i = pos;
            pos = (pos + 1) % window;
            long roll = Long.remainderUnsigned(rng, 1000);
            if (addr[i] != 0) {
                if (roll < 50) {
                    long grown = Math.min(size[i] + size[i] / 2 + 16, 65536);
                    addr[i] = U.reallocateMemory(addr[i], grown);
                    size[i] = grown;
                    U.putByte(addr[i] + grown - 1, (byte) 1);
                    made++;
                    continue;
                }
                U.freeMemory(addr[i]);
                made++;
            }
            long n = roll < 900 ? 16 + Long.remainderUnsigned(rng >>> 10, 497)
                                : 4096 + Long.remainderUnsigned(rng >>> 10, 61441);
            addr[i] = U.allocateMemory(n);
            size[i] = n;
            U.putByte(addr[i], (byte) 1);
            made++;
        }
        for (long a : addr) {
            if (a != 0) {
                U.freeMemory(a);
            }
        }
        return made;
    }

    /** Peak resident set of this JVM in KiB (VmHWM), -1 when /proc cannot tell. */
    private static long peakRssKb() {
        try {
            for (String line : Files.readAllLines(Paths.get("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
        return -1;
    }

    public static void main(String[] args) throws InterruptedException {
        int threads = args.length > 0 ? Integer.parseInt(args[0]) : 2;
        long calls = args.length > 1 ? Long.parseLong(args[1]) : 2_000_000L;
        int window = args.length > 2 ? Integer.parseInt(args[2]) : 10_000;
        long[] made = new long[threads];
        Thread[] t = new Thread[threads];
        long start = System.nanoTime();
        for (int k = 0; k < threads; k++) {
            final int id = k;
            t[k] = new Thread(() -> made[id] = churn(0x9E3779B97F4A7C15L * (id + 1), calls, window));
            t[k].start();
        }
        long total = 0;
        for (int k = 0; k < threads; k++) {
            t[k].join();
            total += made[k];
        }
        double ms = (System.nanoTime() - start) / 1e6;
        // From process start (10 ms resolution): JVM start-up included, exit and any tracker's after-work not.
        long procMs = ProcessHandle.current().info().startInstant()
                .map(s -> Duration.between(s, Instant.now()).toMillis()).orElse(-1L);
        System.out.printf("BENCH java threads=%d calls=%d ms=%.1f calls_per_s=%.0f proc_ms=%d maxrss_kb=%d%n",
                threads, total, ms, total / (ms / 1000.0), procMs, peakRssKb());
    }
}
