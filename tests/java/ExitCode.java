import java.util.ArrayList;
import java.util.List;

/* A small program whose behaviour the shim must not change: it keeps some arrays, waits long enough for the
 * shim's threads to find the JVM, prints one line and exits with the code it is given.
 * Usage: ExitCode CODE */
public class ExitCode {
    public static void main(String[] args) throws Exception {
        List<byte[]> kept = new ArrayList<>();
        for (int i = 0; i < 4000; i++)
            kept.add(new byte[1024]);
        Thread.sleep(3000);
        System.out.println("kept " + kept.size() + " arrays");
        System.exit(Integer.parseInt(args[0]));
    }
}
