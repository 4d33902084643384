#!/usr/bin/env bash
# Refresh the Simplified Chinese catalog (needs GNU gettext; run by developers, not at
# install time — the compiled .mo files are committed so a fresh machine needs nothing).
#   1. extract every msgid from the code into linli/locale/zh_Hans/.../django.po,
#      keeping existing translations;
#   2. fill untranslated entries from linli/locale_fragments/*.po (translations written
#      alongside new code);
#   3. report anything still untranslated and compile the .mo.
set -euo pipefail
cd "$(dirname "$0")/.."
PO=linli/locale/zh_Hans/LC_MESSAGES/django.po
export DJANGO_SETTINGS_MODULE=linli.settings LINLI_HOME="${LINLI_HOME:-$(mktemp -d)}"
(cd linli && ../.venv/bin/django-admin makemessages -l zh_Hans --no-obsolete --no-location \
    --ignore 'locale_fragments/*' --ignore 'locale_vendor/*' >/dev/null)
(cd linli && ../.venv/bin/django-admin makemessages -d djangojs -l zh_Hans --no-obsolete \
    --no-location >/dev/null 2>&1 || true)
if compgen -G "linli/locale_fragments/*.po" >/dev/null; then
    comp=$(mktemp)
    { printf 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n"Plural-Forms: nplurals=1; plural=0;\\n"\n\n'; \
      cat linli/locale_fragments/*.po; } | msguniq --use-first -o "$comp" -
    # Fragments win over what the catalog had (they are where translations are fixed);
    # the catalog's own translations fill in the rest.
    blank=$(mktemp --suffix=.po) old=$(mktemp --suffix=.po)
    cp "$PO" "$old"
    msgfilter --keep-header -i "$PO" -o "$blank" sed -e 's/.*//'
    msgmerge -q --no-fuzzy-matching --no-location -C "$comp" -C "$old" -o "$PO" "$blank" "$blank"
    rm -f "$comp" "$blank" "$old"
fi
untranslated=$(msgattrib --untranslated --no-obsolete "$PO" | grep -c '^msgid ' || true)
if [ "$untranslated" -gt 1 ]; then
    echo "untranslated entries ($((untranslated - 1))):"
    msgattrib --untranslated --no-obsolete "$PO" | grep '^msgid ' | tail -n +2
fi
# A fuzzy entry is a guess msgfmt leaves out (the page shows English): fix it in a fragment.
fuzzy=$(msgattrib --only-fuzzy --no-obsolete "$PO" | grep -c '^msgid ' || true)
if [ "$fuzzy" -gt 1 ]; then
    echo "fuzzy entries, not compiled ($((fuzzy - 1))):"
    msgattrib --only-fuzzy --no-obsolete "$PO" | grep '^msgid ' | tail -n +2
fi
msgfmt -c -o "${PO%.po}.mo" "$PO"
for vendor in linli/locale_vendor/zh_Hans/LC_MESSAGES/django.po linli/locale_vendor/zh_Hans/LC_MESSAGES/djangojs.po; do
    [ -f "$vendor" ] && msgfmt -c -o "${vendor%.po}.mo" "$vendor"
done
echo "compiled $PO"
