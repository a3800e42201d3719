package org.nemotron4j.chat;

import org.junit.jupiter.api.Test;
import org.nemotron4j.Channel;
import org.nemotron4j.NemotronException;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ParsersTest {

    private static List<ReasoningParser.Segment> feed(ReasoningParser p, String... chunks) {
        List<ReasoningParser.Segment> out = new ArrayList<>();
        for (String c : chunks) {
            out.addAll(p.push(c));
        }
        out.addAll(p.flush());
        return out;
    }

    private static String joined(List<ReasoningParser.Segment> segments, Channel channel) {
        StringBuilder sb = new StringBuilder();
        segments.stream().filter(s -> s.channel() == channel).forEach(s -> sb.append(s.text()));
        return sb.toString();
    }

    @Test
    void reasoningParserSplitsAtTheClosingTagWhereverItFalls() {
        String text = "Okay, 2+2.\nIt is 4.\n</think>\n\nThe answer is 4. </think> stays";
        for (int cut1 = 0; cut1 <= text.length(); cut1 += 3) {
            for (int cut2 = cut1; cut2 <= text.length(); cut2 += 5) {
                var segments = feed(new ReasoningParser(true), text.substring(0, cut1), text.substring(cut1, cut2),
                        text.substring(cut2));
                assertEquals("Okay, 2+2.\nIt is 4.\n", joined(segments, Channel.REASONING));
                assertEquals("\n\nThe answer is 4. </think> stays", joined(segments, Channel.ANSWER));
            }
        }
        var noReasoning = feed(new ReasoningParser(false), "</think>x");
        assertEquals("</think>x", joined(noReasoning, Channel.ANSWER));
        var unfinished = feed(new ReasoningParser(true), "still thinking </thi");
        assertEquals("still thinking </thi", joined(unfinished, Channel.REASONING));
        assertTrue(ReasoningParser.endsInsideReasoning("<SPECIAL_11>Assistant\n<think>\n"));
        assertFalse(ReasoningParser.endsInsideReasoning("<SPECIAL_11>Assistant\n<think></think>"));
        assertFalse(ReasoningParser.endsInsideReasoning("no tags"));
    }

    @Test
    void thinkingBudgetDecisions() {
        ThinkingBudget b = new ThinkingBudget(10);
        assertEquals(500, b.graceTokens());
        assertNull(b.closingText(9, true));
        assertEquals("</think>", b.closingText(10, true));
        assertNull(b.closingText(10, false));
        assertNull(b.closingText(509, false));
        assertEquals("\n</think>", b.closingText(510, false));
        assertEquals("</think>", new ThinkingBudget(0).closingText(0, true));
        assertThrows(NemotronException.class, () -> new ThinkingBudget(-1));
    }

    @Test
    void toolCallsParse() {
        var p = ToolCallParser.parse("Let me check.\n<TOOLCALL>[{\"name\": \"get_weather\", \"arguments\": "
                + "{\"city\": \"Paris\", \"days\": 2}}, {\"name\": \"now\", \"arguments\": {}}]</TOOLCALL>");
        assertFalse(p.malformed());
        assertEquals("Let me check.", p.content());
        assertEquals(2, p.toolCalls().size());
        assertEquals("get_weather", p.toolCalls().get(0).name());
        assertEquals(2, p.toolCalls().get(0).arguments().get("days").asInt());
        assertEquals("{\"city\":\"Paris\",\"days\":2}", p.toolCalls().get(0).argumentsJson());
        assertEquals("now", p.toolCalls().get(1).name());

        var single = ToolCallParser.parse("<TOOLCALL>{\"name\": \"f\", \"arguments\": \"{\\\"x\\\": 1}\"}</TOOLCALL>");
        assertFalse(single.malformed());
        assertEquals("{\"x\": 1}", single.toolCalls().getFirst().argumentsJson());

        var none = ToolCallParser.parse("  plain answer ");
        assertFalse(none.malformed());
        assertEquals("plain answer", none.content());
        assertTrue(none.toolCalls().isEmpty());
    }

    @Test
    void malformedToolCallsAreFlaggedNotThrown() {
        for (String bad : List.of(
                "<TOOLCALL>[{\"name\": \"f\", \"arguments\": {]</TOOLCALL>",
                "<TOOLCALL>[{\"name\": \"f\", \"arguments\": {}}]",
                "<TOOLCALL>[{\"arguments\": {}}]</TOOLCALL>",
                "<TOOLCALL>[{\"name\": 3}]</TOOLCALL>",
                "<TOOLCALL>[\"f\"]</TOOLCALL>",
                "<TOOLCALL>[{\"name\": \"f\", \"arguments\": 5}]</TOOLCALL>",
                "ok <TOOLCALL>[{\"name\": \"f\"}]</TOOLCALL> then <TOOLCALL>oops</TOOLCALL>")) {
            var p = ToolCallParser.parse(bad);
            assertTrue(p.malformed(), bad);
            assertTrue(p.toolCalls().isEmpty(), bad);
            assertEquals(bad.strip(), p.content());
        }
    }
}
