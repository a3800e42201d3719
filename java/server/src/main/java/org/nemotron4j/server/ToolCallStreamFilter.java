package org.nemotron4j.server;

import org.nemotron4j.chat.ToolCallParser;

/**
 * Streams answer text while holding back tool calls: text before {@code <TOOLCALL>} passes at once (except a tail
 * that may be the start of the tag); from the tag on, everything is kept and parsed at the end
 * ({@link ToolCallParser}), so the client gets structured {@code tool_calls} instead of the raw block.
 */
final class ToolCallStreamFilter {
    private final StringBuilder held = new StringBuilder();
    private boolean inCall;

    /** Text that can be sent now. */
    String push(String text) {
        held.append(text);
        if (inCall) {
            return "";
        }
        int tag = held.indexOf(ToolCallParser.OPEN_TAG);
        if (tag >= 0) {
            inCall = true;
            String before = held.substring(0, tag);
            held.delete(0, tag);
            return before;
        }
        int keep = partialTagLength(held);
        String out = held.substring(0, held.length() - keep);
        held.delete(0, held.length() - keep);
        return out;
    }

    /** Whatever is held at the end: content (tool calls removed) and the parsed calls. */
    ToolCallParser.Parsed finish() {
        return ToolCallParser.parse(held.toString());
    }

    /** Length of the longest suffix of {@code s} that is a proper prefix of the open tag. */
    private static int partialTagLength(CharSequence s) {
        String tag = ToolCallParser.OPEN_TAG;
        for (int k = Math.min(tag.length() - 1, s.length()); k > 0; k--) {
            if (tag.startsWith(s.subSequence(s.length() - k, s.length()).toString())) {
                return k;
            }
        }
        return 0;
    }
}
