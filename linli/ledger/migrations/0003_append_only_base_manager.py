# The append-only manager is also the base manager, so that no code path inside
# Django (saving, refreshing, related look-ups) can reach a plain, permissive one.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0002_append_only_triggers'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='journalentry',
            options={'base_manager_name': 'objects', 'ordering': ['-id'], 'verbose_name': 'journal entry', 'verbose_name_plural': 'journal entries'},
        ),
        migrations.AlterModelOptions(
            name='journalline',
            options={'base_manager_name': 'objects', 'ordering': ['entry_id', 'id'], 'verbose_name': 'journal line', 'verbose_name_plural': 'journal lines'},
        ),
    ]
