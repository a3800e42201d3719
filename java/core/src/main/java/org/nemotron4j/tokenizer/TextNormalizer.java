package org.nemotron4j.tokenizer;

import java.text.Normalizer;
import java.util.List;

/**
 * A {@code normalizer} of {@code tokenizer.json}: rewrites the text (outside non-normalized added tokens) before
 * pre-tokenization. Supported: the Unicode normal forms {@code NFC}, {@code NFD}, {@code NFKC}, {@code NFKD}
 * (java.text.Normalizer) and {@code Sequence} of those.
 */
sealed interface TextNormalizer {
    String normalize(String s);

    /** {"type": "NFC"} and the other normal forms. */
    record UnicodeForm(Normalizer.Form form) implements TextNormalizer {
        @Override
        public String normalize(String s) {
            // every code point below U+0300 is NFC_QC=Yes with combining class 0, so such text is already NFC;
            // for the other forms only ASCII is known to be invariant without looking it up
            char limit = form == Normalizer.Form.NFC ? '\u0300' : '\u0080';
            int i = 0;
            while (i < s.length() && s.charAt(i) < limit) {
                i++;
            }
            if (i == s.length() || Normalizer.isNormalized(s, form)) {
                return s;
            }
            return Normalizer.normalize(s, form);
        }
    }

    /** {"type": "Sequence", "normalizers": [...]}: each in turn. */
    record Sequence(List<TextNormalizer> normalizers) implements TextNormalizer {
        @Override
        public String normalize(String s) {
            for (TextNormalizer n : normalizers) {
                s = n.normalize(s);
            }
            return s;
        }
    }
}
