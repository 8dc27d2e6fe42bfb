package fund;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReadWriteLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Supplier;

import org.h2.mvstore.MVStore;

import de.bwaldvogel.mongo.MongoBackend;
import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import de.bwaldvogel.mongo.backend.memory.MemoryDatabase;
import de.bwaldvogel.mongo.bson.Document;
import io.netty.channel.Channel;

/**
 * A MongoDB-wire-protocol server for the platform (mongo-java-server), because a real mongod is not
 * installable here. Data lives in one H2 MVStore file; started and stopped by scripts/mongo.mjs.
 *
 * <pre>
 * java -jar mongo-server.jar [--port 27017] [--bind 127.0.0.1] (--data &lt;dir or file.mv.db&gt; | --memory) [--cache-mb 64] [--watch-stdin]
 * </pre>
 *
 * Prints exactly one line, {@code ready <host>:<port>}, on stdout once it accepts connections.
 */
public final class MongoServerMain {

    /** Time the store may spend compacting on shutdown; scripts/mongo.mjs waits 10 s before SIGKILL. */
    private static final int CLOSE_COMPACT_MILLIS = 2000;

    /**
     * mongo-java-server 1.47 advertises MongoDB "5.0" with wire version 8, but Node driver 7 (mongoose 9) refuses
     * anything below 9 (MongoDB 4.4). The server only reports this value; it changes none of its behaviour.
     */
    private static final MongoVersion ADVERTISED = new MongoVersion() {
        @Override
        public List<Integer> getVersionArray() {
            return List.of(4, 4, 0);
        }

        @Override
        public int getWireVersion() {
            return 9;
        }
    };

    /** A connection's first command, before which nothing else is sent on it (see MoreToCome.install). */
    private static final Set<String> HANDSHAKES = Set.of("hello", "isMaster", "ismaster");

    public static void main(String[] args) throws Exception {
        int port = 27017;
        String bind = "127.0.0.1";
        String data = null;
        boolean memory = false;
        boolean watchStdin = false;
        int cacheMb = 64;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--port" -> port = Integer.parseInt(value(args, ++i));
                case "--bind" -> bind = value(args, ++i);
                case "--data" -> data = value(args, ++i);
                case "--memory" -> memory = true;
                case "--watch-stdin" -> watchStdin = true;
                case "--cache-mb" -> cacheMb = Integer.parseInt(value(args, ++i));
                default -> usage("unknown argument " + args[i]);
            }
        }
        if (memory == (data != null)) usage("give exactly one of --data and --memory");

        MongoBackend backend;
        try {
            backend = (memory ? memoryBackend() : openStore(data, cacheMb)).version(ADVERTISED);
        } catch (Exception e) {
            fail("cannot open the store", e); // typically: another server holds its file lock
            return;
        }
        MongoServer server = new MongoServer(backend);
        try {
            server.bind(bind, port);
        } catch (Exception e) { // Netty rethrows the checked BindException undeclared
            backend.close(); // release the store's file lock
            fail("cannot listen on " + bind + ":" + port, e); // exits: Netty's threads would keep the JVM alive
        }
        // SIGTERM/SIGINT run this: stop accepting, let running commands finish, then commit and close the store.
        Runtime.getRuntime().addShutdownHook(new Thread(server::shutdown, "mongo-server-shutdown"));
        if (watchStdin) watchStdin();

        System.out.println("ready " + bind + ":" + server.getLocalAddress().getPort());
        System.out.flush();
    }

    /**
     * {@code --data} names a directory (the store becomes {@code <dir>/mongo.mv.db}) or a file ending in .mv.db.
     * {@code cacheMb}: the store's page cache. Pages that drop out of it are read from the file and deserialized again
     * on every scan; with 10,000 projects the collections outgrow the default 64 MB, and a dashboard recompute took
     * 1–3 s instead of ~120 ms.
     */
    private static H2Backend openStore(String data, int cacheMb) throws IOException {
        Path file = Path.of(data).toAbsolutePath();
        if (!file.getFileName().toString().endsWith(".mv.db")) file = file.resolve("mongo.mv.db");
        Files.createDirectories(file.getParent());
        // Its own background commit (about once a second) stays on for housekeeping; DurableWrites commits and syncs
        // each write command before its reply, so a kill -9 loses nothing that was acknowledged.
        MVStore store = new MVStore.Builder().fileName(file.toString()).cacheSize(cacheMb).open();
        DurableWrites durable = new DurableWrites(store);
        return new H2Backend(store) {
            @Override
            protected MongoDatabase openOrCreateDatabase(String databaseName) {
                return KeyedSort.h2Database(databaseName, getMvStore(), getCursorRegistry());
            }

            @Override
            public Document handleCommand(Channel channel, String database, String command, Document query) {
                if (HANDSHAKES.contains(command)) MoreToCome.install(channel);
                boolean writes = DurableWrites.writes(command, query);
                try {
                    return SchemaLock.around(command, () -> super.handleCommand(channel, database, command, query));
                } finally {
                    // Before the reply. Also after a failed command: it may have written part of its batch.
                    if (writes) durable.commit();
                }
            }

            @Override
            public void close() {
                getMvStore().close(CLOSE_COMPACT_MILLIS); // commit, then compact for a bounded time
                super.close();
            }
        };
    }

    private static MemoryBackend memoryBackend() {
        return new MemoryBackend() {
            @Override
            public MemoryDatabase openOrCreateDatabase(String databaseName) {
                return KeyedSort.memoryDatabase(databaseName, getCursorRegistry());
            }

            @Override
            public Document handleCommand(Channel channel, String database, String command, Document query) {
                if (HANDSHAKES.contains(command)) MoreToCome.install(channel);
                return SchemaLock.around(command, () -> super.handleCommand(channel, database, command, query));
            }
        };
    }

    /**
     * mongo-java-server creates collections and indexes without locking out the commands that use them: an explicit
     * "create" (mongoose sends one per model) racing an insert's implicit creation corrupts the namespace list
     * ("Document with key … already existed", then "Expected one element but got zero"), and "createIndexes"
     * racing an insert throws ConcurrentModificationException. So commands that change collections or indexes
     * run alone; all others still run concurrently.
     */
    private static final class SchemaLock {
        private static final Set<String> SCHEMA_COMMANDS = Set.of(
            "create", "createindexes", "drop", "dropindexes", "deleteindexes", "dropdatabase", "renamecollection");
        private static final ReadWriteLock LOCK = new ReentrantReadWriteLock();

        static Document around(String command, Supplier<Document> handler) {
            Lock lock = SCHEMA_COMMANDS.contains(command.toLowerCase(Locale.ROOT)) ? LOCK.writeLock() : LOCK.readLock();
            lock.lock();
            try {
                return handler.get();
            } finally {
                lock.unlock();
            }
        }
    }

    /** Exit (cleanly, through the shutdown hook) when the parent's stdin pipe closes, so a crashed parent leaves no orphan. */
    private static void watchStdin() {
        Thread t = new Thread(() -> {
            try (InputStream in = System.in) {
                while (in.read() != -1) {
                    // ignore input; only end-of-file matters
                }
            } catch (IOException ignored) {
                // a broken pipe means the same as end-of-file
            }
            System.exit(0);
        }, "stdin-watch");
        t.setDaemon(true);
        t.start();
    }

    /** One readable line per cause for scripts/mongo.mjs to show, rather than a stack trace. */
    private static void fail(String what, Throwable e) {
        StringBuilder msg = new StringBuilder("mongo-server: " + what);
        for (Throwable t = e; t != null; t = t.getCause()) msg.append("\n  ").append(t);
        System.err.println(msg);
        System.exit(1);
    }

    private static String value(String[] args, int i) {
        if (i >= args.length) usage(args[i - 1] + " needs a value");
        return args[i];
    }

    private static void usage(String problem) {
        System.err.println("mongo-server: " + problem);
        System.err.println("usage: java -jar mongo-server.jar [--port N] [--bind HOST] (--data DIR|FILE.mv.db | --memory) [--cache-mb N] [--watch-stdin]");
        System.exit(2);
    }

    private MongoServerMain() {
    }
}
