package org.nemotron4j.chat;

import org.nemotron4j.Channel;

import java.util.ArrayList;
import java.util.List;

/**
 * Splits streamed assistant text into reasoning and answer. The prompt decides where it starts: Nemotron-Nano-v2's
 * generation prompt ends with {@code <think>\n} when reasoning is on (the output starts in
 * {@link Channel#REASONING}) and with {@code <think></think>} when it is off (the output is all answer). In the
 * reasoning channel, {@code </think>} switches to the answer; the tag itself is not output. Text that ends with a
 * beginning of the tag is held back until the next chunk shows whether the tag follows, so a tag split over tokens
 * is still found.
 */
public final class ReasoningParser {
    public static final String OPEN_TAG = "<think>";
    public static final String CLOSE_TAG = "</think>";

    /** A piece of text in one channel. */
    public record Segment(Channel channel, String text) {
    }

    private Channel channel;
    private String held = "";

    public ReasoningParser(boolean startInReasoning) {
        this.channel = startInReasoning ? Channel.REASONING : Channel.ANSWER;
    }

    /**
     * Whether a prompt leaves the model inside a reasoning block: its last {@code <think>} comes after its last
     * {@code </think>}.
     */
    public static boolean endsInsideReasoning(String prompt) {
        int open = prompt.lastIndexOf(OPEN_TAG);
        return open >= 0 && open > prompt.lastIndexOf(CLOSE_TAG);
    }

    /** The channel the next text goes to. */
    public Channel channel() {
        return channel;
    }

    /** Adds text; returns the segments that can be output now (at most one per channel, in order). */
    public List<Segment> push(String text) {
        List<Segment> out = new ArrayList<>(2);
        if (channel == Channel.ANSWER) {
            if (!text.isEmpty()) {
                out.add(new Segment(Channel.ANSWER, text));
            }
            return out;
        }
        String buf = held + text;
        int at = buf.indexOf(CLOSE_TAG);
        if (at >= 0) {
            held = "";
            if (at > 0) {
                out.add(new Segment(Channel.REASONING, buf.substring(0, at)));
            }
            channel = Channel.ANSWER;
            String rest = buf.substring(at + CLOSE_TAG.length());
            if (!rest.isEmpty()) {
                out.add(new Segment(Channel.ANSWER, rest));
            }
            return out;
        }
        int keep = 0;
        for (int len = Math.min(buf.length(), CLOSE_TAG.length() - 1); len > 0; len--) {
            if (buf.startsWith(CLOSE_TAG.substring(0, len), buf.length() - len)) {
                keep = len;
                break;
            }
        }
        held = buf.substring(buf.length() - keep);
        String now = buf.substring(0, buf.length() - keep);
        if (!now.isEmpty()) {
            out.add(new Segment(Channel.REASONING, now));
        }
        return out;
    }

    /** Outputs whatever is held (the stream ended); the channel stays as it is. */
    public List<Segment> flush() {
        String s = held;
        held = "";
        return s.isEmpty() ? List.of() : List.of(new Segment(channel, s));
    }
}
