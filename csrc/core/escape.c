/*
 * qps_escape.c - escaping of log fields for each output format.
 *
 * HELO names, senders and deny texts come from remote clients. A terminal
 * must never receive their control bytes (escape sequences could rewrite the
 * screen), JSON must stay valid UTF-8, CSV must keep its columns.
 *
 * License: MIT (see README).
 */
#include "qps_private.h"

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not valid
 * (overlong forms, surrogates and code points above U+10FFFF are invalid). */
static size_t utf8_sequence(const unsigned char *s, size_t len, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        n = 2, v = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3, v = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

static const char hex_digits[] = "0123456789abcdef";

static void put_hex_escape(qps_buf *buf, const char *prefix, unsigned char c)
{
    qps_buf_append(buf, prefix, strlen(prefix));
    qps_buf_putc(buf, hex_digits[c >> 4]);
    qps_buf_putc(buf, hex_digits[c & 15]);
}

void qps_escape_text(qps_buf *buf, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_sequence(u + i, len - i, &cp);
        if (n == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
            /* a C1 control is escaped byte by byte, like invalid input */
            size_t bad = n ? n : 1;
            for (size_t k = 0; k < bad; k++)
                put_hex_escape(buf, "\\x", u[i + k]);
            i += bad;
        } else if (cp == '\\') {
            qps_buf_append(buf, "\\\\", 2);
            i++;
        } else {
            qps_buf_append(buf, s + i, n);
            i += n;
        }
    }
}

size_t qps_text_width(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t width = 0, i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_sequence(u + i, len - i, &cp);
        if (n == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
            size_t bad = n ? n : 1;
            width += 4 * bad;
            i += bad;
        } else {
            width += cp == '\\' ? 2 : 1;
            i += n;
        }
    }
    return width;
}

void qps_escape_json(qps_buf *buf, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_sequence(u + i, len - i, &cp);
        if (n == 0) {
            put_hex_escape(buf, "\\u00", u[i]);
            i++;
            continue;
        }
        switch (cp) {
        case '"': qps_buf_append(buf, "\\\"", 2); break;
        case '\\': qps_buf_append(buf, "\\\\", 2); break;
        case '\n': qps_buf_append(buf, "\\n", 2); break;
        case '\r': qps_buf_append(buf, "\\r", 2); break;
        case '\t': qps_buf_append(buf, "\\t", 2); break;
        default:
            if (cp < 0x20 || cp == 0x7f)
                put_hex_escape(buf, "\\u00", (unsigned char)cp);
            else if (cp == 0x2028 || cp == 0x2029) /* line breaks to JavaScript */
                qps_buf_printf(buf, "\\u%04x", (unsigned)cp);
            else
                qps_buf_append(buf, s + i, n);
        }
        i += n;
    }
}

void qps_escape_csv(qps_buf *buf, const char *s, size_t len)
{
    /* control bytes are not CSV text (RFC 4180): they are written as the
     * text format writes them, \xNN, before the quoting */
    qps_buf text = {0};
    qps_escape_text(&text, s, len);
    if (text.failed) {
        buf->failed = true;
        return;
    }
    const char *t = text.data ? text.data : "";
    bool quote = text.len > 0 && (t[0] == ' ' || t[text.len - 1] == ' ');
    for (size_t i = 0; i < text.len && !quote; i++)
        if (t[i] == ',' || t[i] == '"')
            quote = true;
    if (!quote) {
        qps_buf_append(buf, t, text.len);
    } else {
        qps_buf_putc(buf, '"');
        for (size_t i = 0; i < text.len; i++) {
            if (t[i] == '"')
                qps_buf_putc(buf, '"');
            qps_buf_putc(buf, t[i]);
        }
        qps_buf_putc(buf, '"');
    }
    qps_buf_release(&text);
}

/* The smallest piece of the escape scope's HTML policy that the mail needs
 * (the same contract as its qps_escape_html: text escaping first, so no
 * control, invalid UTF-8 or bidi control reaches the page raw, then the
 * five HTML metacharacters as entities). */
void qps_escape_html(qps_buf *buf, const char *s, size_t len)
{
    qps_buf text = {0};
    qps_escape_text(&text, s, len);
    if (text.failed) {
        buf->failed = 1;
        qps_buf_release(&text);
        return;
    }
    for (size_t i = 0; i < text.len; i++) {
        switch (text.data[i]) {
        case '&': qps_buf_append(buf, "&amp;", 5); break;
        case '<': qps_buf_append(buf, "&lt;", 4); break;
        case '>': qps_buf_append(buf, "&gt;", 4); break;
        case '"': qps_buf_append(buf, "&quot;", 6); break;
        case '\'': qps_buf_append(buf, "&#39;", 5); break;
        default: qps_buf_putc(buf, text.data[i]);
        }
    }
    qps_buf_release(&text);
}

void qps_escape_script_json(qps_buf *buf, const char *json, size_t len)
{
    /* in valid JSON these occur only inside strings, where \uNNNN means the
     * same character: "</script>" and "<!--" can no longer end the element */
    for (size_t i = 0; i < len; i++) {
        switch (json[i]) {
        case '<': qps_buf_append(buf, "\\u003c", 6); break;
        case '>': qps_buf_append(buf, "\\u003e", 6); break;
        case '&': qps_buf_append(buf, "\\u0026", 6); break;
        default: qps_buf_putc(buf, json[i]);
        }
    }
}
