package fund;

import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.stream.Stream;

import org.h2.mvstore.MVMap;
import org.h2.mvstore.MVStore;

import de.bwaldvogel.mongo.MongoCollection;
import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.backend.CollectionOptions;
import de.bwaldvogel.mongo.backend.CursorRegistry;
import de.bwaldvogel.mongo.backend.DocumentComparator;
import de.bwaldvogel.mongo.backend.QueryResult;
import de.bwaldvogel.mongo.backend.Utils;
import de.bwaldvogel.mongo.backend.ValueComparator;
import de.bwaldvogel.mongo.backend.h2.H2Collection;
import de.bwaldvogel.mongo.backend.h2.H2Database;
import de.bwaldvogel.mongo.backend.memory.MemoryCollection;
import de.bwaldvogel.mongo.backend.memory.MemoryDatabase;
import de.bwaldvogel.mongo.bson.Document;

/**
 * Sorted finds that read each document's sort keys once. mongo-java-server's DocumentComparator looks every key up
 * again (splitting its path with a regular expression) at each of the n·log n comparisons, so a sorted page over
 * 10,000 projections cost about 90 ms, nearly all of it in those look-ups. The order is the same: the same key
 * look-up and the same ValueComparator, in the same sequence of keys.
 */
final class KeyedSort {
    private KeyedSort() {}

    /** The comparator for a find's sort document; null where the library sorts nothing ({} or $natural). */
    static Comparator<Document> comparator(Document orderBy) {
        if (orderBy == null || orderBy.isEmpty() || orderBy.keySet().iterator().next().equals("$natural")) return null;
        for (Object direction : orderBy.values()) {
            if (!(direction instanceof Number)) return new DocumentComparator(orderBy); // e.g. {$meta: …}: the library's own
        }
        return new Keyed(orderBy);
    }

    private static final class Keyed implements Comparator<Document> {
        private final String[] paths;
        private final ValueComparator[] orders;
        private final int[] signs;
        /** One comparator sorts one query's documents on one thread. */
        private final Map<Document, Object[]> keys = new IdentityHashMap<>();

        Keyed(Document orderBy) {
            paths = orderBy.keySet().toArray(new String[0]);
            orders = new ValueComparator[paths.length];
            signs = new int[paths.length];
            for (int i = 0; i < paths.length; i++) {
                boolean ascending = ((Number) orderBy.get(paths[i])).intValue() > 0;
                orders[i] = ascending ? ValueComparator.asc() : ValueComparator.desc();
                signs[i] = ascending ? 1 : -1;
            }
        }

        @Override
        public int compare(Document a, Document b) {
            Object[] ka = keysOf(a);
            Object[] kb = keysOf(b);
            for (int i = 0; i < paths.length; i++) {
                int c = sameTypeOrder(ka[i], kb[i]);
                c = c == UNKNOWN ? orders[i].compare(ka[i], kb[i]) : signs[i] * c;
                if (c != 0) return c;
            }
            return 0;
        }

        private static final int UNKNOWN = Integer.MIN_VALUE;

        /**
         * Dates, strings and integers of one type order by value whatever the library's type ranking does (it looks types up
         * in a list at every comparison); anything else is left to ValueComparator.
         */
        private static int sameTypeOrder(Object a, Object b) {
            if (a instanceof java.time.Instant x && b instanceof java.time.Instant y) return x.compareTo(y); // BSON dates
            if (a instanceof java.util.Date x && b instanceof java.util.Date y) return Long.compare(x.getTime(), y.getTime());
            if (a instanceof String x && b instanceof String y) return x.compareTo(y); // as ValueComparator compares strings
            if (a instanceof Integer x && b instanceof Integer y) return Integer.compare(x, y);
            if (a instanceof Long x && b instanceof Long y) return Long.compare(x, y);
            return UNKNOWN;
        }

        private Object[] keysOf(Document document) {
            return keys.computeIfAbsent(document, d -> {
                Object[] values = new Object[paths.length];
                for (int i = 0; i < paths.length; i++) values[i] = Utils.getSubdocumentValueCollectionAware(d, paths[i]);
                return values;
            });
        }
    }

    /** The H2 store's database, whose collections sort with {@link #comparator}. */
    static MongoDatabase h2Database(String name, MVStore store, CursorRegistry cursors) {
        return new H2Database(name, store, cursors) {
            @Override
            protected MongoCollection<Object> openOrCreateCollection(String collectionName, CollectionOptions options) {
                // The maps H2Database itself opens for a collection.
                String namespace = getFullCollectionNamespace(collectionName);
                MVMap<Object, Document> data = store.openMap("databases." + namespace);
                MVMap<String, Object> meta = store.openMap("meta." + namespace);
                return new H2Collection(this, collectionName, options, data, meta, cursorRegistry) {
                    @Override
                    protected QueryResult matchDocumentsFromStream(Stream<Document> documents, Document query, Document orderBy, int skip, int limit, int batchSize, Document projection) {
                        return matchDocumentsFromStream(query, documents, skip, limit, batchSize, comparator(orderBy), projection);
                    }
                };
            }
        };
    }

    /** The in-memory store's database, whose collections sort with {@link #comparator}. */
    static MemoryDatabase memoryDatabase(String name, CursorRegistry cursors) {
        return new MemoryDatabase(name, cursors) {
            @Override
            protected MemoryCollection openOrCreateCollection(String collectionName, CollectionOptions options) {
                return new MemoryCollection(this, collectionName, options, cursorRegistry) {
                    @Override
                    protected QueryResult matchDocumentsFromStream(Stream<Document> documents, Document query, Document orderBy, int skip, int limit, int batchSize, Document projection) {
                        return matchDocumentsFromStream(query, documents, skip, limit, batchSize, comparator(orderBy), projection);
                    }
                };
            }
        };
    }
}
