package fund;

import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;

import org.h2.mvstore.FileStore;
import org.h2.mvstore.MVStore;

import de.bwaldvogel.mongo.bson.Document;

/**
 * A write command's changes are in the store file, synced to disk, before its reply is sent: the MVStore alone
 * commits about once a second, so a kill -9 lost up to a second of writes the driver had been told were done.
 *
 * <p>Group commit: a command that finished writing takes a ticket, and one commit covers every ticket taken before it
 * started, so commands finishing while another one syncs share the next commit instead of queueing one each. A bulk
 * insert is one command, hence one commit, however many documents it carries.
 */
final class DurableWrites {

    /**
     * Commands that only read (lower case). Every other command is taken as a write: a command missing here costs a
     * commit, never a lost write.
     */
    private static final Set<String> READS = Set.of(
        "find", "getmore", "count", "distinct", "aggregate", "explain", "killcursors", "endsessions",
        "listcollections", "listindexes", "listdatabases", "dbstats", "collstats", "validate",
        "hello", "ismaster", "ping", "buildinfo", "whatsmyuri", "serverstatus", "hostinfo", "getcmdlineopts",
        "getparameter", "getlog", "getlasterror", "connectionstatus", "currentop", "getfreemonitoringstatus");

    /** Aggregation stages that write their result into a collection. */
    private static final Set<String> WRITING_STAGES = Set.of("$out", "$merge");

    private final MVStore store;
    /** Write commands finished so far; a command's ticket is the value it raised this to. */
    private final AtomicLong finished = new AtomicLong();
    /** Held by the one thread committing; the others wait on it and find their ticket covered. */
    private final ReentrantLock committing = new ReentrantLock();
    /** Tickets up to this one are on disk (guarded by committing). */
    private long durable;
    /** Commits up to this store version are on disk (guarded by committing): nothing newer means no fsync. */
    private long syncedVersion;

    DurableWrites(MVStore store) {
        this.store = store;
        this.syncedVersion = store.getCurrentVersion();
    }

    /** Whether the command may change the store. */
    static boolean writes(String command, Document query) {
        String name = command.toLowerCase(Locale.ROOT);
        if (name.equals("aggregate")) return hasWritingStage(query.get("pipeline"));
        return !READS.contains(name);
    }

    private static boolean hasWritingStage(Object pipeline) {
        if (!(pipeline instanceof List<?> stages)) return false;
        for (Object stage : stages) {
            if (stage instanceof Document d && d.keySet().stream().anyMatch(WRITING_STAGES::contains)) return true;
        }
        return false;
    }

    /**
     * Called by a write command's thread once its changes are made, before the reply: returns when they are on disk.
     * A failure (disk full, I/O error) is thrown, so the driver gets an error instead of an acknowledgement.
     */
    void commit() {
        long ticket = finished.incrementAndGet(); // every change of this command was made before this
        committing.lock();
        try {
            if (durable >= ticket) return; // a commit that started after this command finished wrote it
            long covered = finished.get(); // each of these commands finished before the commit below starts
            long before = store.getCurrentVersion();
            long stored = store.commit(); // -1 when nothing was left to store
            // The background writer may have committed these changes itself just before, with its chunk still queued
            // in the store's writer threads: so the queues are drained, then the file synced, unless no commit at
            // all happened since the last sync (a write command that changed nothing).
            if (store.getCurrentVersion() != syncedVersion) {
                FileStore<?> file = store.getFileStore();
                file.executeFileStoreOperation(file::sync);
                // Every commit up to here had queued its chunk before ours took the store's lock. A later version
                // may be a commit still queueing: not counted, so the next command syncs again rather than too little.
                syncedVersion = Math.max(before, stored);
            }
            durable = covered;
        } finally {
            committing.unlock();
        }
    }
}
