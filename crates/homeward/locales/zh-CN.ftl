# Homeward 网页，简体中文。消息编号与 en.ftl 相同；
# src/server/i18n.rs 中的单元测试检查两个文件的编号一致。

brand = 回家 Homeward
lang-switch = 语言
nav-submit = 报告线索
nav-review = 待审核
nav-cases = 案件
nav-admin = 管理
sign-out = 退出登录
role-volunteer = 志愿者
role-caseworker = 案件工作人员
role-admin = 管理员

## 页面上显示的错误
error-title = 出错了
error-heading = 出了点问题
error-back = 返回首页
error-details = 详细信息
err-bad_request = 无法处理这个请求，请刷新页面后重试。
err-bad_form = 表单不完整或格式有误，请刷新页面后重新提交。
err-unauthenticated = 请先登录。
err-forbidden = 您的账号无权打开此页面；如有需要，请联系管理员。
err-csrf = 页面已过期，请刷新后重新提交表单。
err-not_found = 未找到。
err-conflict = 内容已被他人修改，请刷新页面查看最新状态。
err-unprocessable = 提交的部分内容无法接受，请检查后重试。
err-unsupported_media_type = 无法使用这种文件，请上传照片（JPEG、PNG 或 WebP）。
err-too_large = 照片或表单太大，请上传小一些的照片。
err-rate_limited = 请求过于频繁，请等待 { $secs } 秒后重试。
err-busy = 服务器正忙于分析其他照片，请在 { $secs } 秒后重试。
err-timeout = 请求耗时过长，请上传小一些的照片或稍后重试。
err-internal = 服务器出现错误，请稍后重试。运维人员可在服务器日志中查看详情。
err-bad_credentials = 用户名或密码错误。
err-other = 请求未能完成。

## 登录
login-title = 登录
login-username = 用户名
login-password = 密码
login-submit = 登录

## 志愿者表单
submit-title = 报告线索
submit-safety = 在确保安全的前提下，拍下孩子的正脸。请不要靠近或跟随孩子。如果孩子有危险，请立即拨打 110 报警。
submit-photo = 照片
submit-take-photo = 拍照
submit-pick-photo = 从相册选择
submit-photo-hint = 从微博或微信保存的照片也可以。照片会先在手机上缩小再上传。
submit-photo-again = 请重新选择照片。
submit-preview-alt = 照片预览
submit-seen-at = 看到的时间
submit-seen-at-hint = { $zone } 时间。如果照片记录了拍摄时间，会自动填入。
submit-where = 地点
submit-place = 地点（街道、地标）
submit-share-location = 随本报告发送我的位置
submit-share-location-hint = 只有勾选此项，才会发送您手机的位置。
submit-age = 看起来的年龄
submit-not-sure = 不确定
submit-sex = 看起来的性别
submit-girl = 女孩
submit-boy = 男孩
submit-note = 备注（看到的情况、衣着、孩子和谁在一起）
submit-send = 提交报告
privacy-title = 隐私说明
privacy-text = 照片只供本机构的案件工作人员与失踪儿童比对使用。照片中的隐藏信息（相机型号、GPS 位置、日期）会在保存前删除。只有勾选“发送我的位置”，才会保存您的位置。报告会记录您的用户名。
js-locating = 正在获取您的位置…
js-located = 已添加位置（误差约 { $metres } 米）。
js-no-location = 无法获取位置，请填写地点描述。
js-sending = 正在提交…
js-preparing = 正在处理照片…
js-exif-time = 时间取自照片。
js-photo-ready = 照片已就绪（{ $width } × { $height }）。

## 表单错误
ferr-no-photo = 请先拍照或选择一张照片。
ferr-seen-at = 无法识别看到的时间，请选择日期和时间。
ferr-seen-at-future = 看到的时间晚于现在，请检查日期和时间。
ferr-location = 无法识别位置，请重试或填写地点描述。
ferr-age = 请从列表中选择年龄。
ferr-sex = 请从列表中选择性别。
ferr-too-long = “{ $field }”太长（最多 { $max } 个字）。
ferr-photo-small = 照片太小，每边至少需要 32 像素。
ferr-photo-shape = 照片太窄太长，请上传普通照片。
ferr-photo-large = 照片太大，请上传小一些的照片。
ferr-photo-format = 无法读取这个文件，请上传 JPEG、PNG 或 WebP 照片。
ferr-photo-broken = 无法读取照片（文件可能已损坏），请换一张照片。
field-place = 地点
field-note = 备注

## 回执
receipt-title = 报告已收到
receipt-number = 回执编号
receipt-thanks = 谢谢您！报告已收到，案件工作人员会进行查看。
receipt-no-face = 照片中没有找到人脸。您的报告仍已保存，案件工作人员会人工查看这张照片。
receipt-faces = 照片中找到 { $faces } 张人脸。
receipt-received = 收到时间：{ $time }。如需查询报告，请保留回执编号。
receipt-another = 再报告一条线索

## 审核
review-title = 待审核
review-hint = 候选案件按相似程度排序，供人工审核。分数不是结论。
review-empty = 没有待审核的内容。
review-item-link = 线索 { $sighting } → 案件 { $case }：{ $name }
review-sighting-alt = 线索 { $id }
review-heading = 线索 { $sighting } 与案件 { $case } 对比
review-sighting = 线索
review-sighting-photo-alt = 线索照片
review-case-facts = 自 { $since } 在 { $place } 失踪 · { $sex }
review-born = { $year } 年出生
review-unknown = 不详
review-note = 审核备注
review-confirm = 确认：是同一个孩子
review-reject = 否定：不是同一个孩子
review-decision = 结论：
review-by = 审核人 { $who }
review-note-was = 备注：{ $note }
review-back = 返回待审核列表
review-case-photo-alt = 案件照片 { $id }
review-distance = 距离 { $d }
band-strong = 强
band-possible = 可能
band-weak = 弱
state-pending = 待审核
state-confirmed = 已确认
state-rejected = 已否定

## 线索信息
fact-received = 收到时间
fact-seen-at = 看到的时间
fact-place = 地点
fact-location = 位置
fact-age = 看起来的年龄
fact-sex = 看起来的性别
fact-note = 备注
fact-faces = 人脸数量

## 案件
cases-title = 案件
col-name = 姓名
col-missing-since = 失踪日期
col-from = 失踪地点
col-status = 状态
col-photos = 照片
col-pending = 待审核
cases-new = 新建案件
case-child-name = 孩子姓名
case-sex = 性别
sex-unknown = 不详
sex-female = 女
sex-male = 男
case-birth-date = 出生日期
case-missing-since = 失踪日期
case-missing-from = 失踪地点
case-notes = 备注
case-create = 创建案件
case-case = 案件编号
case-born = 出生
status-searching = 寻找中
status-found = 已找到
status-closed = 已结案
case-photos-by-age = 按年龄排列的照片
case-no-photos = 还没有照片。
case-age = { $age } 岁
case-age-unknown = 年龄不详
case-photo-alt = 照片 { $id }
case-age-label = { $years } 岁 { $months } 个月
case-add-photo = 添加照片
case-photo = 照片
case-age-years = 照片中的年龄（岁）
case-taken-on = 拍摄日期
case-source = 来源
case-add-photo-submit = 添加照片

## 管理
admin-title = 管理
admin-heading = 登记库管理
admin-new-token = 新的 API 令牌（只显示一次，请立即复制）：
admin-users = 用户
col-role = 角色
col-state = 状态
col-user = 用户
col-created = 创建时间
state-disabled = 已停用
state-active = 使用中
state-revoked = 已吊销
admin-enable = 启用
admin-disable = 停用
admin-password = 密码（至少 { $min } 个字符）
admin-role-volunteer = 志愿者
admin-role-caseworker = 案件工作人员
admin-role-admin = 管理员
admin-create-user = 创建用户
admin-tokens = API 令牌
admin-revoke = 吊销
admin-for-user = 所属用户
admin-token-name = 令牌名称
admin-create-token = 创建令牌
admin-erase = 删除案件
admin-erase-hint = 删除会永久移除案件及其照片、人脸和比对结果；审计日志只记录“案件 N 已删除”。
admin-case-number = 案件编号
admin-erase-confirm = 输入 ERASE 以确认
admin-erase-submit = 删除案件
admin-erased-title = 案件已删除
admin-erased = 案件 { $id } 已删除
admin-back = 返回
