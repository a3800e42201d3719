package org.nemotron4j.server;

import org.nemotron4j.serving.Scheduler.Produced;
import org.nemotron4j.serving.Scheduler.ScheduledRequest;

import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * The deltas of a request's n choices merged into one queue, in the order they are produced: a virtual thread per
 * choice pulls its {@link ScheduledRequest}. Also times them for the metrics (time to first token from the
 * request's arrival, time between tokens).
 */
final class ChoiceEvents {
    /** A delta of choice {@code index}, or its failure ({@code error}), or its end ({@code end}). */
    record Event(int index, Produced produced, RuntimeException error, boolean end) { }

    private final LinkedBlockingQueue<Event> queue = new LinkedBlockingQueue<>();
    private final List<ScheduledRequest> requests;
    private int open;

    ChoiceEvents(List<ScheduledRequest> requests, long arrivalNanos, ServerMetrics metrics) {
        this.requests = requests;
        this.open = requests.size();
        for (int i = 0; i < requests.size(); i++) {
            int index = i;
            ScheduledRequest r = requests.get(i);
            Thread.ofVirtual().name("nemotron4j-choice").start(() -> {
                long last = 0;
                try {
                    while (r.hasNext()) {
                        Produced p = r.nextProduced();
                        int tokens = p.delta().tokenIds().length;
                        if (tokens > 0) {
                            long now = System.nanoTime();
                            if (last == 0) {
                                metrics.ttft.observe((now - arrivalNanos) / 1e9);
                            } else {
                                metrics.interToken.observe((now - last) / 1e9);
                            }
                            last = now;
                            metrics.tokens(tokens);
                        }
                        queue.add(new Event(index, p, null, false));
                    }
                    queue.add(new Event(index, null, null, true));
                } catch (RuntimeException e) {
                    queue.add(new Event(index, null, e, true));
                }
            });
        }
    }

    /** The next event, or null once every choice has ended. */
    Event next() {
        if (open == 0) {
            return null;
        }
        try {
            Event e = queue.take();
            if (e.end()) {
                open--;
            }
            return e;
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
            cancelAll();
            throw ApiError.internal("interrupted");
        }
    }

    void cancelAll() {
        requests.forEach(ScheduledRequest::cancel);
    }
}
