package org.nemotron4j.cli;

import org.nemotron4j.ChatRequest;
import org.nemotron4j.Message;
import org.nemotron4j.NemotronModel;
import org.nemotron4j.Session;
import org.nemotron4j.generate.GenerationStream;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** {@code run}: one prompt in, the streamed answer out (reasoning dimmed on stderr). */
final class RunCommand implements Command {
    @Override
    public String name() {
        return "run";
    }

    @Override
    public String summary() {
        return "answer one prompt, streaming the reply (uses the demo model without --model)";
    }

    @Override
    public String usage() {
        return "usage: nemotron4j run --prompt TEXT [options]\n" + GenerationFlags.HELP;
    }

    @Override
    public int run(String[] argv, PrintStream out, PrintStream err) {
        Args a = Args.parse(name(), argv, 1, GenerationFlags.valued("prompt"), GenerationFlags.booleans(), Map.of("p", "prompt"));
        String prompt = a.required("prompt");
        if (prompt.isBlank()) {
            throw new Args.UsageException("run: --prompt is empty");
        }
        List<Message> messages = new ArrayList<>();
        if (a.has("system")) {
            messages.add(Message.system(a.string("system", "")));
        }
        messages.add(Message.user(prompt));
        ChatRequest request = GenerationFlags.apply(a, ChatRequest.of(messages), !a.flag("no-think"));
        try (NemotronModel model = GenerationFlags.load(a, err);
             Session session = model.newSession();
             GenerationStream stream = session.stream(request)) {
            GenerationFlags.stream(stream, out, err, !a.flag("hide-reasoning"));
        }
        return 0;
    }
}
