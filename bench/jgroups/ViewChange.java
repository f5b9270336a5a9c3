// Tiny JGroups 2.12 member for bench/jgroups/run.sh.
//   java ViewChange <name> [cluster]   join <cluster>, print one line per installed view:
//       VIEW <epochMs> <viewId> <size> [members]
//   java ViewChange --config           print the effective stack (all properties, incl. defaults) and exit
// Uses `new JChannel()`, i.e. JChannel.DEFAULT_PROTOCOL_STACK = "udp.xml" from the jar.
import org.jgroups.JChannel;
import org.jgroups.ReceiverAdapter;
import org.jgroups.View;

public class ViewChange {
  public static void main(String[] args) throws Exception {
    JChannel ch = new JChannel(); // default config: udp.xml (IP multicast)
    if (args[0].equals("--config")) {
      System.out.println("CONFIG " + JChannel.DEFAULT_PROTOCOL_STACK + " " + org.jgroups.Version.printVersion());
      System.out.println(ch.getProtocolStack().printProtocolSpec(true));
      ch.close();
      return;
    }
    ch.setName(args[0]);
    ch.setReceiver(new ReceiverAdapter() {
      @Override public void viewAccepted(View v) {
        System.out.println("VIEW " + System.currentTimeMillis() + " " + v.getViewId() + " " + v.size() + " " + v.getMembers());
      }
    });
    System.out.println("PID " + ProcessHandle.current().pid() + " " + args[0]);
    ch.connect(args.length > 1 ? args[1] : "rcbench");
    Thread.currentThread().join(); // run until killed
  }
}
