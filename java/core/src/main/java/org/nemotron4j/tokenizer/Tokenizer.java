package org.nemotron4j.tokenizer;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;

import org.nemotron4j.NemotronException;

/**
 * A Hugging Face {@code tokenizer.json} byte-level BPE tokenizer (the kind of Nemotron-H, Llama 3, Qwen, GPT-4o),
 * in pure Java, producing exactly the ids the Hugging Face {@code tokenizers} library produces.
 *
 * <p>Encoding, as the library does it:
 * <ol>
 *   <li>added tokens whose {@code normalized} is false are found in the raw text;</li>
 *   <li>the text between them is normalized ({@code normalizer}: NFC etc.), and added tokens with
 *       {@code normalized} true are found in it;</li>
 *   <li>the text between tokens is cut into words by the {@code pre_tokenizer} (Split regexes, Digits, ByteLevel);</li>
 *   <li>each word's UTF-8 bytes are encoded by byte-level BPE ({@link BpeModel}), with a cache of recent words;</li>
 *   <li>with {@code addSpecialTokens}, the {@code post_processor} adds its special tokens (e.g. BOS), adjusted by
 *       {@code add_bos_token}/{@code add_eos_token} of {@code tokenizer_config.json}.</li>
 * </ol>
 * Decoding concatenates the bytes of the tokens ({@link #tokenBytes}) and reads them as UTF-8, each ill-formed
 * part becoming U+FFFD (the {@code ByteLevel} decoder).
 *
 * <p>Instances are immutable and safe to share between threads.
 */
public final class Tokenizer implements org.nemotron4j.generate.TextCodec {
    /** Words up to this many chars are cached; longer ones (rare: long runs) are encoded every time. */
    private static final int CACHE_MAX_WORD = 64;
    private static final int CACHE_SLOTS = 1 << 15;

    private final String source;
    private final BpeModel model;
    private final TextNormalizer normalizer;      // null: none
    private final AddedTokenMatcher rawAdded;     // tokens with normalized == false
    private final AddedTokenMatcher normAdded;    // tokens with normalized == true
    private final PreTokenizer preTokenizer;      // null: the whole text is one word
    private final int matcherSlots;
    private final int[] prefix;
    private final int[] suffix;
    private final Map<String, AddedToken> addedByContent;
    private final AddedToken[] addedById;         // by id, null where none
    private final byte[][] bytesById;
    private final boolean[] special;
    private final int vocabSize;
    private final OptionalInt bos;
    private final OptionalInt eos;
    private final int[] eosIds;
    private final String chatTemplate;

    /**
     * A direct-mapped cache of words: racy but safe, entries are immutable (final fields) and an entry is used only
     * when its own word matches. {@code cacheHash} holds each slot's hash apart (a small array that stays in cache)
     * so that a miss does not read the entry.
     */
    private final CacheEntry[] cache = new CacheEntry[CACHE_SLOTS];
    private final int[] cacheHash = new int[CACHE_SLOTS];

    private record CacheEntry(String word, int hash, int[] ids) {
    }

    Tokenizer(String source, BpeModel model, TextNormalizer normalizer, AddedTokenMatcher rawAdded,
              AddedTokenMatcher normAdded, PreTokenizer preTokenizer, int matcherSlots, int[] prefix, int[] suffix,
              Map<String, AddedToken> addedByContent, AddedToken[] addedById, OptionalInt bos, OptionalInt eos,
              int[] eosIds, int[] extraSpecial, String chatTemplate) {
        this.source = source;
        this.model = model;
        this.normalizer = normalizer;
        this.rawAdded = rawAdded;
        this.normAdded = normAdded;
        this.preTokenizer = preTokenizer;
        this.matcherSlots = matcherSlots;
        this.prefix = prefix;
        this.suffix = suffix;
        this.addedByContent = Map.copyOf(addedByContent);
        this.addedById = addedById;
        this.vocabSize = addedById.length;
        this.bos = bos;
        this.eos = eos;
        this.eosIds = eosIds;
        this.chatTemplate = chatTemplate;
        bytesById = new byte[vocabSize][];
        special = new boolean[vocabSize];
        for (int id = 0; id < vocabSize; id++) {
            AddedToken added = addedById[id];
            if (added != null) {
                bytesById[id] = Utf8.encode(added.content());
                special[id] = added.special();
            } else if (id < model.tokens.length && model.tokens[id] != null) {
                byte[] b = model.bytes[id];
                // a token outside the byte-level alphabet: the ByteLevel decoder emits its own UTF-8
                bytesById[id] = b != null ? b : Utf8.encode(model.tokens[id]);
            }
        }
        for (int id : extraSpecial) {
            special[id] = true;
        }
    }

    /**
     * Loads a {@code tokenizer.json} alone. The BOS token is then the first special token the post-processor adds (if
     * any) and the EOS token the last one it appends (if any).
     *
     * @throws NemotronException naming the file when it is missing, malformed or uses an unsupported component
     */
    public static Tokenizer load(Path tokenizerJson) {
        return TokenizerLoader.load(tokenizerJson, null);
    }

    /**
     * Loads {@code tokenizer.json} of a checkpoint directory, with its {@code tokenizer_config.json} when present:
     * {@code added_tokens_decoder} (added/special tokens), {@code bos_token}, {@code eos_token},
     * {@code add_bos_token}, {@code add_eos_token}, {@code chat_template}.
     *
     * @throws NemotronException naming the file when one is missing, malformed or unsupported
     */
    public static Tokenizer fromDirectory(Path checkpointDir) {
        Path config = checkpointDir.resolve("tokenizer_config.json");
        return TokenizerLoader.load(checkpointDir.resolve("tokenizer.json"),
                java.nio.file.Files.exists(config) ? config : null);
    }

    /**
     * The ids of {@code text}. Added and special tokens written in the text (e.g. {@code <|im_start|>}) are
     * recognized as such either way; {@code addSpecialTokens} adds what the post-processor adds (e.g. BOS).
     */
    public int[] encode(String text, boolean addSpecialTokens) {
        EncodeContext ctx = new EncodeContext(matcherSlots, text.length() / 3 + 8);
        if (addSpecialTokens) {
            ctx.out.addAll(prefix);
        }
        PreTokenizer.Sink words = (s, a, b) -> encodeWord(ctx, s, a, b);
        AddedTokenMatcher.Sink afterNormalization = new AddedTokenMatcher.Sink() {
            @Override
            public void text(String s, int start, int end) {
                if (start >= end) {
                    return; // the library drops empty pieces before pre-tokenizing
                }
                if (preTokenizer == null) {
                    words.piece(s, start, end);
                } else {
                    preTokenizer.split(ctx, s, start, end, words);
                }
            }

            @Override
            public void token(int id) {
                ctx.out.add(id);
            }
        };
        rawAdded.split(text, 0, text.length(), new AddedTokenMatcher.Sink() {
            @Override
            public void text(String s, int start, int end) {
                if (start >= end) {
                    return;
                }
                if (normalizer != null) {
                    String n = normalizer.normalize(s.substring(start, end));
                    normAdded.split(n, 0, n.length(), afterNormalization);
                } else {
                    normAdded.split(s, start, end, afterNormalization);
                }
            }

            @Override
            public void token(int id) {
                ctx.out.add(id);
            }
        });
        if (addSpecialTokens) {
            ctx.out.addAll(suffix);
        }
        return ctx.out.toArray();
    }

    private void encodeWord(EncodeContext ctx, String s, int a, int b) {
        int len = b - a;
        int hash = 0;
        CacheEntry e;
        int slot = 0;
        if (len <= CACHE_MAX_WORD) {
            for (int i = a; i < b; i++) {
                hash = 31 * hash + s.charAt(i);
            }
            hash ^= hash >>> 16;
            slot = (hash * 0x9E3779B9) >>> (32 - Integer.numberOfTrailingZeros(CACHE_SLOTS));
            if (cacheHash[slot] == hash) {
                e = cache[slot];
                if (e != null && e.hash == hash && e.word.length() == len && e.word.regionMatches(0, s, a, len)) {
                    ctx.out.addAll(e.ids);
                    return;
                }
            }
        }
        BpeModel.Scratch scratch = ctx.bpe;
        scratch.ensureWord(Utf8.maxBytes(len));
        int n = Utf8.encode(s, a, b, scratch.word);
        int from = ctx.out.size;
        model.encode(scratch.word, n, ctx.out, scratch);
        if (len <= CACHE_MAX_WORD) {
            cache[slot] = new CacheEntry(s.substring(a, b), hash,
                    Arrays.copyOfRange(ctx.out.data, from, ctx.out.size));
            cacheHash[slot] = hash;
        }
    }

    /** The text of {@code ids}, special tokens included. */
    public String decode(int[] ids) {
        return decode(ids, false);
    }

    /**
     * The text of {@code ids}: the concatenated {@link #tokenBytes} read as UTF-8 (ill-formed parts become U+FFFD).
     * Ids that have no token contribute nothing, as in the Hugging Face library.
     *
     * @param skipSpecialTokens leave out special tokens
     */
    public String decode(int[] ids, boolean skipSpecialTokens) {
        int total = 0;
        for (int id : ids) {
            byte[] b = bytesOf(id);
            if (b != null && !(skipSpecialTokens && special[id])) {
                total += b.length;
            }
        }
        byte[] buf = new byte[total];
        int pos = 0;
        for (int id : ids) {
            byte[] b = bytesOf(id);
            if (b != null && !(skipSpecialTokens && special[id])) {
                System.arraycopy(b, 0, buf, pos, b.length);
                pos += b.length;
            }
        }
        return Utf8.decodeLossy(buf, 0, total);
    }

    private byte[] bytesOf(int id) {
        if (id < 0) {
            throw new NemotronException("token id " + id + " is negative (" + source + ")");
        }
        return id < vocabSize ? bytesById[id] : null;
    }

    /**
     * The exact bytes token {@code id} contributes to decoded text: for a byte-level token the bytes it stands for,
     * which may be part of a UTF-8 sequence only; for an added or special token its content in UTF-8. Empty for an
     * id that has no token. A fresh array each call.
     */
    public byte[] tokenBytes(int id) {
        byte[] b = bytesOf(id);
        return b == null ? new byte[0] : b.clone();
    }

    /** Max id + 1 over the model's vocabulary and the added tokens. */
    public int vocabSize() {
        return vocabSize;
    }

    /** The id of token string {@code token} (an added token's content, or a vocabulary entry in byte-level form). */
    public OptionalInt tokenId(String token) {
        AddedToken added = addedByContent.get(token);
        if (added != null) {
            return OptionalInt.of(added.id());
        }
        Integer id = model.ids.get(token);
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    /**
     * The token string of {@code id} as the vocabulary writes it (byte-level form, e.g. {@code "Ġthe"}; an added
     * token's content), or {@code null} when no token has this id.
     */
    public String token(int id) {
        if (id < 0) {
            throw new NemotronException("token id " + id + " is negative (" + source + ")");
        }
        if (id >= vocabSize) {
            return null;
        }
        if (addedById[id] != null) {
            return addedById[id].content();
        }
        return id < model.tokens.length ? model.tokens[id] : null;
    }

    /** Whether {@code id} is a special token (an added token marked special, or named as bos/eos/unk/pad). */
    public boolean isSpecial(int id) {
        return id >= 0 && id < vocabSize && special[id];
    }

    /**
     * The BOS token: {@code bos_token} of tokenizer_config.json, else the first token the post-processor puts before
     * the text; empty when neither exists.
     */
    public OptionalInt bosTokenId() {
        return bos;
    }

    /**
     * The EOS token: {@code eos_token} of tokenizer_config.json, else the last token the post-processor puts after
     * the text; empty when neither exists.
     */
    public OptionalInt eosTokenId() {
        return eos;
    }

    /**
     * Every id that ends generation: {@link #eosTokenId()} first, then those {@code tokenizer_config.json} lists under
     * {@code "additional_eos_tokens"} (a nemotron4j key; the demo tokenizer lists {@code <SPECIAL_12>}, the end
     * of an assistant turn). A fresh array.
     */
    public int[] eosTokenIds() {
        return eosIds.clone();
    }

    /** The {@code chat_template} of {@code tokenizer_config.json}, when it has one. */
    public Optional<String> chatTemplate() {
        return Optional.ofNullable(chatTemplate);
    }

    /** The added tokens (tokenizer.json {@code added_tokens} merged with {@code added_tokens_decoder}), by id. */
    public java.util.List<AddedToken> addedTokens() {
        return Arrays.stream(addedById).filter(java.util.Objects::nonNull).toList();
    }

    @Override
    public String toString() {
        return "Tokenizer[" + source + ", vocab " + vocabSize + ", merges " + model.mergeCount() + "]";
    }
}
