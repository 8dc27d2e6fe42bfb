package fund;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.function.BiPredicate;
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
 * look-up and the same ValueComparator, in the same sequence of keys. A sorted find with a limit keeps only the
 * first skip + limit documents in a bounded heap instead of sorting every match, as a page of 20 out of thousands
 * needs; ties keep the scan's order, as the library's stable sort does.
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

    /** Above this many documents to keep, a bounded heap gains nothing over sorting them all. */
    private static final int MAX_KEPT = 10_000;

    /**
     * The library's matchDocumentsFromStream arguments for a find: where the sort is keyed and limited, the documents
     * are matched and cut to the first skip + limit here, and the library is left to skip, limit and project them.
     */
    static Find find(Stream<Document> documents, Document query, Document orderBy, int skip, int limit,
                     BiPredicate<Document, Document> matches) {
        Comparator<Document> order = comparator(orderBy);
        if (order instanceof Keyed keyed && limit > 0 && (long) skip + limit <= MAX_KEPT) {
            List<Document> first = keyed.first(documents.filter(d -> matches.test(d, query)), skip + limit);
            return new Find(first.stream(), new Document(), null); // already matched and ordered
        }
        return new Find(documents, query, order);
    }

    record Find(Stream<Document> documents, Document query, Comparator<Document> order) {}

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
            return compareKeys(keysOf(a), keysOf(b));
        }

        private int compareKeys(Object[] ka, Object[] kb) {
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
            return keys.computeIfAbsent(document, this::extract);
        }

        private Object[] extract(Document document) {
            Object[] values = new Object[paths.length];
            for (int i = 0; i < paths.length; i++) values[i] = Utils.getSubdocumentValueCollectionAware(document, paths[i]);
            return values;
        }

        private record Kept(Document document, Object[] keys, long seq) {}

        /** The first n documents in sort order, equal keys in stream order. */
        List<Document> first(Stream<Document> documents, int n) {
            Comparator<Kept> order = (a, b) -> {
                int c = compareKeys(a.keys, b.keys);
                return c != 0 ? c : Long.compare(a.seq, b.seq);
            };
            PriorityQueue<Kept> last = new PriorityQueue<>(Math.min(n, 1024), order.reversed()); // the worst kept on top
            long[] seq = {0};
            documents.forEachOrdered(d -> {
                Kept k = new Kept(d, extract(d), seq[0]++);
                if (last.size() < n) last.add(k);
                else if (order.compare(k, last.peek()) < 0) {
                    last.poll();
                    last.add(k);
                }
            });
            List<Kept> kept = new ArrayList<>(last);
            kept.sort(order);
            List<Document> result = new ArrayList<>(kept.size());
            for (Kept k : kept) result.add(k.document);
            return result;
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
                        Find find = find(documents, query, orderBy, skip, limit, this::documentMatchesQuery);
                        return matchDocumentsFromStream(find.query(), find.documents(), skip, limit, batchSize, find.order(), projection);
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
                        Find find = find(documents, query, orderBy, skip, limit, this::documentMatchesQuery);
                        return matchDocumentsFromStream(find.query(), find.documents(), skip, limit, batchSize, find.order(), projection);
                    }
                };
            }
        };
    }
}
