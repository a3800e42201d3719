/**
 * Hugging Face {@code tokenizer.json} byte-level BPE tokenizers in pure Java: {@link
 * org.nemotron4j.tokenizer.Tokenizer} (load, encode, decode, token bytes for streaming) and {@link
 * org.nemotron4j.tokenizer.DemoTokenizer} (writes the small tokenizer of the demo model).
 *
 * <p>The ids are exactly those of the Hugging Face {@code tokenizers} library for the components implemented:
 * model BPE; normalizers NFC/NFD/NFKC/NFKD/Sequence; pre-tokenizers Split (Oniguruma regexes translated to
 * {@code java.util.regex}), Digits, ByteLevel, Sequence; post-processors TemplateProcessing, ByteLevel,
 * Roberta/BertProcessing, Sequence; decoder ByteLevel. Anything else is refused at load.
 *
 * <p>Speed: the pre-tokenizer regexes of the GPT-2, cl100k (Llama 3, Qwen) and o200k (GPT-4o, Tekken-style)
 * families are matched by hand-written code ({@code FastSplitPattern}, checked against java.util.regex on random
 * text); BPE runs over bytes with compact merge tables; recent words are cached.
 */
package org.nemotron4j.tokenizer;
