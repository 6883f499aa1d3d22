-- Legacy AWS CUR (Athena parquet) line items, renamed and cast by the select the three CUR families share.
{{ stage_aws_cur_line_items(source('aws_cur_athena', 'line_items'), 'aws_cur_athena') }}
