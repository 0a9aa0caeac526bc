import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/* What a leaking service keeps, for the live endpoint's Java test (tests/check_live.c): direct buffers (native
 * memory the JVM mallocs) and Java objects, both in a static list that is never cleared. It allocates for a few
 * seconds once leakwatch has had time to attach (so that compiled code allocates too), prints "ready", then only
 * waits: from then on nothing in it makes the JVM collect. Usage: LiveHeap SECONDS_TO_LIVE */
public class LiveHeap {
    static final List<Object> KEPT = new ArrayList<>();

    static void keepDirectBuffer() {
        KEPT.add(ByteBuffer.allocateDirect(16 * 1024));
    }

    static void keepRecords(int n) {
        for (int i = 0; i < n; i++)
            KEPT.add(new long[512]);          /* 4 KiB each */
    }

    public static void main(String[] args) throws Exception {
        Thread.sleep(2500);
        long end = System.nanoTime() + 3_000_000_000L;
        while (System.nanoTime() < end) {
            for (int i = 0; i < 10; i++)
                keepDirectBuffer();
            keepRecords(100);
            Thread.sleep(20);
        }
        System.out.println("ready");
        System.out.flush();
        Thread.sleep(Long.parseLong(args[0]) * 1000L);
    }
}
