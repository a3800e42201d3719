package org.nemotron4j.cli;

import org.nemotron4j.ChatRequest;
import org.nemotron4j.Message;
import org.nemotron4j.NemotronException;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.Session;
import org.nemotron4j.generate.GenerationStream;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code chat}: a multi-turn conversation on stdin/stdout. Commands: {@code /think} and {@code /no_think} switch
 * reasoning, {@code /reset} starts over, {@code /exit} (or end of input) quits. Each turn renders the whole
 * conversation with the chat template (reasoning of earlier turns is dropped, as the template does).
 */
final class ChatCommand implements Command {
    @Override
    public String name() {
        return "chat";
    }

    @Override
    public String summary() {
        return "multi-turn chat on the terminal (/think, /no_think, /reset, /exit)";
    }

    @Override
    public List<String> description() {
        return List.of("Ctrl-C stops the current answer; a second Ctrl-C (or one at the prompt) exits.");
    }

    @Override
    public List<Opt> options() {
        return GenerationFlags.OPTIONS;
    }

    @Override
    public int run(Args a, PrintStream out, PrintStream err) {
        boolean reasoning = !a.flag("no-think");
        List<Message> history = new ArrayList<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        try (NemotronModel model = GenerationFlags.load(a, err);
             ChatInterrupts interrupts = new ChatInterrupts(() -> {
                 err.println();
                 err.flush();
                 out.flush();
                 System.exit(130);  // a second Ctrl-C: leave, with the status an uncaught SIGINT gives
             }).install()) {
            err.println("chat with " + model.directory().getFileName() + " (/think, /no_think, /reset, /exit)");
            while (true) {
                err.print(reasoning ? "you> " : "you (no_think)> ");
                err.flush();
                String line = in.readLine();
                if (line == null || line.strip().equals("/exit") || line.strip().equals("/quit")) {
                    break;
                }
                String text = line.strip();
                switch (text) {
                    case "" -> {
                        continue;
                    }
                    case "/think" -> {
                        reasoning = true;
                        err.println("reasoning on");
                        continue;
                    }
                    case "/no_think" -> {
                        reasoning = false;
                        err.println("reasoning off");
                        continue;
                    }
                    case "/reset" -> {
                        history.clear();
                        err.println("conversation cleared");
                        continue;
                    }
                    default -> { }
                }
                List<Message> turn = new ArrayList<>();
                if (a.has("system")) {
                    turn.add(Message.system(a.string("system", "")));
                }
                turn.addAll(history);
                turn.add(Message.user(text));
                ChatRequest request = GenerationFlags.apply(a, ChatRequest.of(turn), reasoning);
                interrupts.beginAnswer();
                try (Session session = model.newSession(); GenerationStream stream = session.stream(request)) {
                    String answer = GenerationFlags.stream(stream, out, err, !a.flag("hide-reasoning"),
                            interrupts::stopRequested);
                    history.add(Message.user(text));
                    history.add(Message.assistant(answer));
                } catch (NemotronException e) {
                    err.println("error: " + e.getMessage());
                } finally {
                    interrupts.endAnswer();
                }
            }
        } catch (IOException e) {
            throw new NemotronException("cannot read the terminal: " + e.getMessage(), e);
        }
        return 0;
    }
}
