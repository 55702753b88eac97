from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("search", "0001_photo_text_index")]
    operations = [
        migrations.CreateModel(
            name="Tombstone",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("photo_id", models.BigIntegerField()),
                ("model_id", models.CharField(max_length=300)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={"indexes": [models.Index(fields=["model_id", "id"], name="search_tomb_model_i_b8f1e6_idx")]},
        ),
    ]
