import java.nio.ByteBuffer;
import java.util.ArrayList;

/* A hot allocation path that the JIT compiles and inlines as it likes: churn() calls make(), which calls
 * ByteBuffer.allocateDirect, thousands of times a second; one buffer in 64 is kept for good (a leak, so that
 * reports show the path), the others are freed by their cleaners. main() runs once and loops a few hundred
 * times, far too few for the JIT to compile it: its frame stays interpreted.
 * Usage: java InlineAlloc SECONDS */
public class InlineAlloc {
    static final ArrayList<ByteBuffer> LEAKED = new ArrayList<>();

    static ByteBuffer make(int size) {
        return ByteBuffer.allocateDirect(size);
    }

    static void churn(int n) {
        for (int i = 0; i < n; i++) {
            ByteBuffer b = make(1000 + (i & 7) * 8);
            if ((i & 63) == 0)
                LEAKED.add(b);
        }
    }

    public static void main(String[] args) throws Exception {
        long end = System.nanoTime() + Long.parseLong(args[0]) * 1_000_000_000L;
        System.out.println("ready pid=" + ProcessHandle.current().pid());
        while (System.nanoTime() < end) {
            churn(1000);
            Thread.sleep(10);
        }
    }
}
