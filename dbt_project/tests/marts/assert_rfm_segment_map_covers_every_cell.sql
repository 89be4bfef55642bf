-- Every recency x frequency cell 1..rfm_bucket_count must map to exactly one segment of rfm_segment_map:
-- rows returned are gaps (segment_count 0) or overlaps (segment_count > 1), which would leave customers
-- without a segment or assign them by accident of order. Ranges reaching outside 1..N are returned too.
{%- set buckets = var('rfm_bucket_count') | int %}
with

segment_map as (
    select * from {{ ref('rfm_segment_map') }}
),

cells as (
    select
        recency_scores.score as recency_score,
        frequency_scores.score as frequency_score,
    from range(1, {{ buckets + 1 }}) as recency_scores (score)
    cross join range(1, {{ buckets + 1 }}) as frequency_scores (score)
),

cell_segments as (
    select
        cells.recency_score,
        cells.frequency_score,
        count(segment_map.segment) as segment_count,
        string_agg(segment_map.segment, ', ' order by segment_map.segment) as segments,
    from cells
    left join segment_map
        on cells.recency_score between segment_map.r_min and segment_map.r_max
        and cells.frequency_score between segment_map.f_min and segment_map.f_max
    group by cells.recency_score, cells.frequency_score
),

out_of_range as (
    select
        cast(null as bigint) as recency_score,
        cast(null as bigint) as frequency_score,
        0 as segment_count,
        segment || ' reaches outside 1..{{ buckets }} or has min > max' as segments,
    from segment_map
    where r_min < 1 or f_min < 1 or r_max > {{ buckets }} or f_max > {{ buckets }}
        or r_min > r_max or f_min > f_max
)

select * from cell_segments where segment_count <> 1
union all
select * from out_of_range
