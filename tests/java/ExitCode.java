import java.util.ArrayList;
import java.util.List;

/* A small program whose behaviour the shim must not change: it waits 2 s (the shim's threads find the JVM and
 * start sampling), keeps some arrays and exactly KEPT objects of its own class ExitCode$Kept, waits 3 s (or SLEEP_MS,
 * time for a report), prints one line and exits with the code it is given.
 * Usage: ExitCode CODE [SLEEP_MS] */
public class ExitCode {
    static final int KEPT = 5000;

    static final class Kept {
        long value;

        Kept(long value) { this.value = value; }
    }

    public static void main(String[] args) throws Exception {
        Thread.sleep(2000);
        List<byte[]> arrays = new ArrayList<>();
        for (int i = 0; i < 4000; i++)
            arrays.add(new byte[1024]);
        List<Kept> kept = new ArrayList<>();
        for (int i = 0; i < KEPT; i++)
            kept.add(new Kept(i));
        Thread.sleep(args.length > 1 ? Long.parseLong(args[1]) : 3000);
        System.out.println("kept " + arrays.size() + " arrays and " + kept.size() + " objects");
        System.exit(Integer.parseInt(args[0]));
    }
}
