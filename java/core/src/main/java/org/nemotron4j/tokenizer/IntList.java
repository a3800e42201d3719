package org.nemotron4j.tokenizer;

import java.util.Arrays;

/** A growable {@code int[]}: the ids an encode call produces. */
final class IntList {
    int[] data;
    int size;

    IntList(int capacity) {
        data = new int[Math.max(capacity, 4)];
    }

    void add(int v) {
        if (size == data.length) {
            data = Arrays.copyOf(data, data.length * 2);
        }
        data[size++] = v;
    }

    void addAll(int[] vs) {
        addAll(vs, 0, vs.length);
    }

    void addAll(int[] vs, int from, int to) {
        int n = to - from;
        if (size + n > data.length) {
            data = Arrays.copyOf(data, Math.max(data.length * 2, size + n));
        }
        System.arraycopy(vs, from, data, size, n);
        size += n;
    }

    int[] toArray() {
        return Arrays.copyOf(data, size);
    }
}
